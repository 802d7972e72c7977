"""The dispatcher: claim due texts, pace each sender, send, record, reconcile."""
