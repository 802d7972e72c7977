"""Does a free-text inbound message plainly ask to stop receiving texts (SPEC §4)?

Pure: no I/O, no clock. ``detect_revocation(body)`` answers it, after the keyword question
(``clinictext.domain.keywords.classify``) has been asked. Under the TCPA a patient may
revoke consent "by any reasonable means", so such a message must not be silently ignored.
The detector only *flags the message for staff review* (``RevocationSignal.likely``;
``phrase`` quotes, from the message itself, the clause or clauses that matched); it never
opts anyone out by itself. A keyword message is never a revocation signal: the keyword
path handles it.

How the detector works
----------------------
The text is prepared as for keywords (NFKC, invisible characters removed, smart quotes and
dashes made plain), split into clauses at sentence punctuation, and into word tokens. Each
token is canonicalised: case-folded, accents removed (``envíen`` → ``envien``), apostrophes
dropped (``don't`` → ``dont``), common SMS spellings mapped (``pls``/``plz`` → ``please``,
``txt``/``txting`` → ``text``/``texting``, ``msgs`` → ``messages``, ``u`` → ``you``,
``ur`` → ``your``), and stretched emphasis squeezed for a few words (``STOPPPP``,
``stahp`` → ``stop``; ``pleeease`` → ``please``). Then two kinds of rule run over the
canonical tokens:

* **Bare-stop clauses.** A clause made only of a stop word (``stop``, ``unsubscribe``,
  ``optout``, ``revoke``, ``quit``; Spanish ``alto``, ``baja``, ``basta``, ``parar``,
  ``paren``) and filler words (``please``, ``it``, ``now``, ``ok``, ``already``, ``just``,
  ``the texts``, ``por favor``, ``ya``…) is a revocation: ``"stop pls"``, ``"STOP IT
  PLEASE"``, ``"stop stop stop"``, ``"wrong number, stop"``, ``"Baja por favor"``. A
  single other word in the clause (``"stop by tomorrow"``, ``"stop the antibiotics"``)
  keeps it ordinary. ``cancel`` and ``end`` are deliberately *not* stop words here:
  ``"cancel please"`` after a reminder means the appointment (the exact message CANCEL is
  still an opt-out keyword).
* **Phrase patterns** (regular expressions over the canonical words):

  ============================  =============================================================
  stop/quit + contacting verb   ``stop texting|messaging|contacting|spamming|bothering…``,
                                ``stop sending`` + (me / texts / messages / end), ``stop
                                getting|receiving`` + texts, ``stop (these|the) texts``
  don't contact me              ``(dont|do not|never) (text|message|contact|email) me``…
  remove me from the list       ``(remove|take|delete|get) me (from|off) (the|your) list``,
                                ``remove|delete my number``, ``opt me out``
  opt out / unsubscribe         ``opt out`` (unless "opt out of" something that is not
                                texts: "opt out of the fluoride treatment"), ``unsubscribe``
  no more texts                 ``no more (of these|your)? (texts|messages|reminders…)``
  don't want texts              ``(dont|do not) want (any more|these)? (texts|messages)``
  cancel the texts              ``cancel (these|the|my)? (text)? (texts|messages|alerts)``
  leave me alone                ``leave me alone``
  wrong number                  ``wrong number|person|phone`` (the person never consented)
  Spanish                       ``no me envíen|manden|escriban (más)…``, ``(ya) no quiero
                                (recibir) (más) mensajes|textos``, ``no quiero que me
                                escriban``, ``bórrenme|sáquenme|quítenme de la lista``,
                                ``borren mi número``, ``dejen de enviarme|mandarme…``,
                                ``no más mensajes``, ``dar(me) de baja``, ``déjenme en
                                paz``, ``número equivocado``
  ============================  =============================================================

Negative context rules keep ordinary replies ordinary:

* the contacting verbs are specific: ``stop calling`` (wants texts instead), ``stop by``,
  ``stop in``, ``stop eating``, ``stopped`` never match;
* the objects are specific: ``no more pain``, ``remove the charge``, ``take me off the
  3pm``, ``I'm on the list``, ``don't want the 8am slot``, ``no me envíen la factura`` do
  not match;
* a negation just before a stop/remove/unsubscribe phrase cancels it: ``please don't stop
  sending reminders``, ``don't take me off the list``, ``I didn't unsubscribe``;
* Spanish ``alto``/``baja`` only count as a whole clause (``la presión baja``, ``el dolor es
  muy alto`` do not), and ``baja`` otherwise only in ``dar(me) de baja``.

Cost: the detector reads every inbound text that is not a keyword, so the common case (no
request to stop) is kept cheap: words are canonicalised once each (remembered, since
texts repeat their vocabulary), the text is split into tokens once, the clause rule runs
only when some token is a stop word, and the phrase patterns are first tried as one
alternation, which finds a match exactly when one of them does.

The detector prefers precision on ordinary clinic talk and recall on plain requests; what
it misses is phrasing it has no pattern for ("you need to stop blowing up my phone").
Staff still see every inbound message in the inbox.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache

from clinictext.domain.keywords import classify, prepare


@dataclass(frozen=True)
class RevocationSignal:
    """Whether a free-text message likely revokes consent; ``phrase`` quotes it for staff."""

    likely: bool
    phrase: str | None  # the clause(s) that matched, quoted from the message, for staff


NO_SIGNAL = RevocationSignal(likely=False, phrase=None)

# --------------------------------------------------------------------------------------------
# detect_revocation: free text that plainly asks to stop
# --------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_CLAUSE_BREAK = re.compile(r"[.!?¡¿,;:\n\r()\[\]\"]+|\s-+\s|\s-+$|^-+\s")

# Spelling variants → canonical word (looked up after folding).
_SPELLINGS: dict[str, str] = {
    "pls": "please",
    "plz": "please",
    "plss": "please",
    "plzz": "please",
    "plse": "please",
    "plez": "please",
    "pleez": "please",
    "pleaz": "please",
    "pleas": "please",
    "pleae": "please",
    "porfa": "porfavor",
    "xfa": "porfavor",
    "xfavor": "porfavor",
    "txt": "text",
    "tx": "text",
    "txts": "texts",
    "textes": "texts",
    "txting": "texting",
    "texing": "texting",
    "textin": "texting",
    "txtin": "texting",
    "textng": "texting",
    "txted": "texted",
    "msg": "message",
    "mesage": "message",
    "messege": "message",
    "msgs": "messages",
    "mesages": "messages",
    "messeges": "messages",
    "mssgs": "messages",
    "msges": "messages",
    "msging": "messaging",
    "msgng": "messaging",
    "mesaging": "messaging",
    "messageing": "messaging",
    "u": "you",
    "ya'll": "yall",
    "ur": "your",
    "youre": "your",
    "yur": "your",
    "thx": "thanks",
    "thanx": "thanks",
    "ty": "thanks",
    "dnt": "dont",
    "anymor": "anymore",
    "nomore": "no more",
    "unsub": "unsubscribe",
    "unsuscribe": "unsubscribe",
    "unsubcribe": "unsubscribe",
    "unsubscibe": "unsubscribe",
    "opt-out": "optout",
    "msj": "mensaje",
    "msjs": "mensajes",
    "sms": "texts",
}
# Words often stretched for emphasis: compared with every run of a letter squeezed to one.
_EMPHATIC = ("stop", "stahp", "stap", "please", "no", "alone", "alto", "basta", "baja")
_SQUEEZED = {re.sub(r"(.)\1+", r"\1", w): ("stop" if w.startswith("st") else w) for w in _EMPHATIC}


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("'", "")


@lru_cache(maxsize=8192)
def _canonical(word: str) -> str:
    folded = _fold(word)
    if folded in _SPELLINGS:
        return _SPELLINGS[folded]
    squeezed = re.sub(r"(.)\1+", r"\1", folded)
    if squeezed in _SQUEEZED and (squeezed != folded or folded in _SQUEEZED):
        return _SQUEEZED[squeezed]
    return folded


@dataclass(frozen=True)
class _Token:
    word: str  # canonical
    start: int  # offsets in the prepared text
    end: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for m in _WORD.finditer(text):
        for part in _canonical(m.group()).split(" "):
            tokens.append(_Token(part, m.start(), m.end()))
    return tokens


# -- bare-stop clauses ------------------------------------------------------------------------

_STOP_WORDS = frozenset(
    {"stop", "unsubscribe", "optout", "revoke", "quit", "alto", "baja", "basta", "parar", "paren"}
)
_FILLERS = frozenset(
    {
        # English
        "please", "it", "now", "already", "ok", "okay", "k", "just", "seriously", "omg",
        "god", "thanks", "thank", "you", "the", "these", "this", "them", "all", "those",
        "text", "texts", "message", "messages", "reminders", "spam", "again", "immediately",
        "asap", "right", "dammit", "damn", "wtf", "man", "dude", "guys", "yall", "sir",
        "maam", "hey", "hi", "no", "so", "really", "for", "real", "good",
        # Spanish
        "porfavor", "por", "favor", "ya", "ahora", "gracias", "los", "mensajes", "textos",
        "oiga", "senor", "senora", "inmediatamente",
    }
)  # fmt: skip


def _clauses(text: str) -> list[tuple[int, int]]:
    """Spans of the clauses (between sentence punctuation), whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for brk in [*_CLAUSE_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        segment = text[start:end]
        if segment.strip():
            lead = len(segment) - len(segment.lstrip())
            spans.append((start + lead, start + len(segment.rstrip())))
        if brk:
            start = brk.end()
    return spans


def _bare_stop_clauses(text: str, clauses: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The clauses made only of stop words and fillers."""
    found: list[tuple[int, int]] = []
    for start, end in clauses:
        words = [t.word for t in _tokens(text[start:end])]
        if (
            words
            and any(w in _STOP_WORDS for w in words)
            and all(w in _STOP_WORDS or w in _FILLERS for w in words)
        ):
            found.append((start, end))
    return found


# -- phrase patterns --------------------------------------------------------------------------

_TXT = (
    r"(?:texts?|texting|text messages?|messages?|messaging|reminders?|alerts?|notifications?"
    r"|spam|robo ?texts?)"
)
_DET = r"(?:(?:all|any|of) )?(?:these|those|the|this|your|ur|all|any|such|more)? ?"
_NEG = r"(?:dont|didnt|doesnt|never|not|wont|do not|did not|does not|will not)"

# (pattern, negation before it cancels it)
_PATTERNS: tuple[tuple[re.Pattern[str], bool], ...] = tuple(
    (re.compile(p), negatable)
    for p, negatable in (
        # stop/quit + contacting verb
        (
            r"\b(?:stop|quit|cease|quit it with) (?:texting|messaging|contacting|spamming"
            r"|bothering|harassing|bugging|emailing|txting|hitting me up)\b",
            True,
        ),
        (
            r"\b(?:stop|quit|cease) sending(?: me| us| to this number| this number)?"
            r"(?: " + _DET + _TXT + r"\b| me\b| (?:please|now|already|them)\b|$)",
            True,
        ),
        (r"\bstop (?:getting|receiving) " + _DET + _TXT + r"\b", True),
        (r"\bstop (?:all |with )?(?:these|those|the|your|all|all these|all the) " + _TXT, True),
        (r"\bstop (?:it )?(?:with )?(?:the )?(?:texts|messages|spam)\b", True),
        # don't contact me
        (
            r"\b(?:dont|do not|never|do not ever|dont ever|please dont|please do not) "
            r"(?:ever )?(?:text|message|contact|email|msg|send) (?:me|this number|my number|us)"
            r"\b(?! (?:the|a|an|my|your|when|if|at|back|before|after)\b)",
            False,
        ),
        (r"\b(?:dont|do not) (?:text|message|contact) (?:again|anymore|please)\b", False),
        (r"\b(?:dont|do not) contact\b(?! (?:the|my|your|him|her|them)\b)", False),
        # remove me from the list
        (
            r"\b(?:remove|take|delete|erase|drop|get|unsubscribe|unenroll|unlist) "
            r"(?:me|us|my (?:number|phone(?: number)?|cell(?: number)?|info)|this number) "
            r"(?:from|off|out of) " + _DET + r"(?:list|lists|mailing list|texting list|text list"
            r"|contact list|sms list|system|database|texts?|messages?|texting|messaging"
            r"|reminders|alerts|subscription)\b",
            True,
        ),
        (
            r"\b(?:remove|delete|erase|take off) (?:my|this) (?:cell |phone |mobile )?"
            r"(?:number|phone number|cell|phone)\b(?! (?:from (?:my|the) (?:chart|file|account)"
            r"|to|for|and)\b)",
            True,
        ),
        (r"\bopt (?:me|us|my number) out\b", True),
        (r"\b(?:opt out|optout)\b(?! of (?!" + _DET + _TXT + r"\b))", True),
        (r"\bunsubscribe\b", True),
        # no more texts / don't want texts / cancel texts
        (r"\bno more (?:of )?" + _DET + r"(?:text |sms )?" + _TXT + r"\b", False),
        (
            r"\b(?:dont|do not|no longer|never) (?:want|wanna|need|wish) (?:to )?"
            r"(?:(?:receive|get|be getting|keep getting|be sent) )?" + _DET + _TXT + r"\b",
            False,
        ),
        (
            r"\b(?:dont|do not|no longer) (?:want|wish) to be (?:texted|contacted|messaged"
            r"|on (?:the|your|this) list)\b",
            False,
        ),
        (
            r"\bcancel " + _DET + r"(?:my )?(?:text |sms )?(?:texts|text messages|messages"
            r"|alerts|notifications|subscription|text reminders|text alerts)\b",
            True,
        ),
        # leave me alone / wrong number
        (r"\bleave me alone\b", False),
        (r"\bwrong (?:number|person|phone|cell|guy|girl)\b", False),
        # Spanish (accents already removed)
        (
            r"\bno me (?:envien|envie|manden|mande|escriban|escriba|contacten|contacte"
            r"|molesten|moleste|textee|texteen|llamen ni escriban)\b"
            r"(?! (?:el|la|los|las|un|una|su|sus|eso|esa|ese|esto|la direccion)\b)",
            False,
        ),
        (
            r"\bno (?:quiero|deseo|necesito) (?:seguir )?"
            r"(?:recibir(?:los)? |que me (?:envien|manden) )?"
            r"(?:mas )?(?:sus |estos |esos |los |tantos )?(?:mensajes|textos|mensajitos"
            r"|texts|recordatorios|msjs|mensaje)\b",
            False,
        ),
        (r"\bno (?:quiero|deseo) recibir(?: mas)?(?: nada)?$", False),
        (
            r"\bno quiero que me (?:escriban|envien|manden|contacten|textee|texteen|molesten)\b",
            False,
        ),
        (
            r"\b(?:borrenme|borreme|borrame|sacame|saquenme|saqueme|quitenme|quiteme|quitame"
            r"|eliminenme|elimineme|eliminame|sacarme|borrarme|quitarme|eliminarme) de "
            r"(?:la|su|sus|esta|esa|tu) (?:lista|listas|sistema|base de datos)\b",
            False,
        ),
        (
            r"\b(?:borren|eliminen|quiten|borrar|eliminar|quitar) (?:mi|este) (?:numero|celular"
            r"|telefono)\b",
            False,
        ),
        (
            r"\bdej(?:en|e|a|ar) de (?:enviar|enviarme|mandar|mandarme|escribir|escribirme"
            r"|textear|textearme|molestar|molestarme|contactar|contactarme)\b",
            False,
        ),
        (r"\bno mas (?:mensajes|textos|msjs|texts|mensajitos|recordatorios)\b", False),
        (r"\b(?:dar|darme|denme|den|deme|doy|dan|darse|darnos) de baja\b", False),
        (r"\b(?:dejenme|dejame|dejeme) en paz\b", False),
        (r"\b(?:numero equivocado|equivocado de numero|persona equivocada)\b", False),
    )
)
# Any of the patterns, in one pass: a text none of them matches is done with at once.
_ANY_PATTERN = re.compile("|".join(f"(?:{p.pattern})" for p, _ in _PATTERNS))
_NEGATION_WINDOW = 4  # words: "do not" + up to two words in between
_NEGATION_BEFORE = re.compile(r"\b" + _NEG + r"(?: \w+)?(?: \w+)? $")


def _phrase_matches(tokens: list[_Token]) -> list[tuple[int, int]]:
    """Spans (in the prepared text) of every phrase pattern that matched ``tokens``."""
    if not tokens:
        return []
    words = [t.word for t in tokens]
    joined = " ".join(words)
    if not _ANY_PATTERN.search(joined):
        return []
    starts: list[int] = []  # offset of each token in `joined`
    offset = 0
    for w in words:
        starts.append(offset)
        offset += len(w) + 1
    spans: list[tuple[int, int]] = []
    for pattern, negatable in _PATTERNS:
        for m in pattern.finditer(joined):
            first = bisect_right(starts, m.start()) - 1
            last = max(first, bisect_left(starts, m.end()) - 1)
            # A negation among the few words before cancels it ("please don't stop sending").
            before = " ".join(words[max(0, first - _NEGATION_WINDOW) : first]) + " "
            if negatable and _NEGATION_BEFORE.search(before):
                continue
            spans.append((tokens[first].start, tokens[last].end))
    return spans


def detect_revocation(body: str) -> RevocationSignal:
    """Whether a free-text message plainly asks to stop receiving texts (flag for staff).

    Never opts out by itself; a carrier keyword message is not a signal (see ``classify``).
    """
    if classify(body) is not None:
        return NO_SIGNAL
    text = prepare(body)
    tokens = _tokens(text)
    clauses = _clauses(text)
    # A clause's words are among the text's: without a stop word no clause is a bare stop.
    has_stop_word = any(t.word in _STOP_WORDS for t in tokens)
    spans = _bare_stop_clauses(text, clauses) if has_stop_word else []
    for start, end in _phrase_matches(tokens):
        # Quote the whole clause around a phrase, so staff read it in context.
        around = [c for c in clauses if c[0] < end and start < c[1]]
        spans.append((min([start, *(c[0] for c in around)]), max([end, *(c[1] for c in around)])))
    if not spans:
        return NO_SIGNAL
    return RevocationSignal(
        likely=True, phrase=text[min(s for s, _ in spans) : max(e for _, e in spans)]
    )
