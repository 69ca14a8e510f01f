"""Deterministic answers for the issue-19 tasks: if, translate, agg, rank.

Each rule recognises the prompt pg_claude builds for its task (src/task_if.c,
task_translate.c, task_agg.c, task_rank.c), so regression output is stable:

``Question: Q\\n\\nText:\\nT`` with a boolean ``answer`` property
    true when a key word of Q (5+ letters, not a common word) shares its
    first six letters with a word of T ("complaint" matches "complained").
``Translate the following text [from S ]into L:\\n\\nT``
    "[L] " + T.
``Instruction: I\\n\\nAnswer it over these N items ...`` with "- item" lines
    'Answer to "I" over N items: ' + the first sentence of item 1.
``Query: Q\\n\\nCandidates:`` with "[k] text" lines and a ``scores`` array
    per candidate, the share of Q's distinct words (3+ letters) found in it,
    rounded to two places.

emu_claude calls :func:`tool_input` before its generic schema filling and
:func:`answer_text` before its generic text rules; both return None when the
prompt is not one of these.
"""

import re

_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
_STOP = frozenset("""about above after again against their there these those which while would
could should where what whether being other under until every since among this that with from
into have does text""".split())
_TRANSLATE_RE = re.compile(r"\s*Translate the following text (?:from (.+?) )?into (.+?):\n\n(.*)\Z",
                           re.DOTALL)
_AGG_RE = re.compile(r"\s*Instruction: (.*?)\n\nAnswer it over these (\d+) items", re.DOTALL)
_CANDIDATE_RE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_SENTENCE_RE = re.compile(r"(.*?[.!?])(?:\s|$)", re.DOTALL)


def words(text):
    return [w.lower() for w in _WORD_RE.findall(text)]


def if_answer(question, text):
    keys = {w[:6] for w in words(question) if len(w) >= 5 and w not in _STOP}
    return any(w[:6] in keys for w in words(text))


def rank_scores(query, candidates):
    keys = {w for w in words(query) if len(w) >= 3}
    if not keys:
        return [0.0 for _ in candidates]
    return [round(len(keys & set(words(c))) / len(keys), 2) for c in candidates]


def _first_sentence(text, max_words=12):
    text = text.strip()
    match = _SENTENCE_RE.match(text)
    return " ".join((match.group(1) if match else text).split()[:max_words])


def tool_input(schema, text):
    """The input of a forced tool (or structured output) for these tasks, or None."""
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    if properties.get("answer", {}).get("type") == "boolean" and text.startswith("Question: "):
        question, _, rest = text[len("Question: "):].partition("\n\nText:\n")
        return {"answer": if_answer(question, rest)}
    if properties.get("scores", {}).get("type") == "array" and text.startswith("Query: "):
        query, _, rest = text[len("Query: "):].partition("\n\nCandidates:\n")
        return {"scores": rank_scores(query, [m.group(2) for m in _CANDIDATE_RE.finditer(rest)])}
    return None


def answer_text(text):
    """The text answer for these tasks, or None."""
    match = _TRANSLATE_RE.match(text)
    if match:
        return "[%s] %s" % (match.group(2), match.group(3))
    match = _AGG_RE.match(text)
    if match:
        items = [line.lstrip()[2:] for line in text.splitlines() if line.lstrip().startswith("- ")]
        return 'Answer to "%s" over %s items: %s' % (
            match.group(1), match.group(2), _first_sentence(items[0]) if items else "")
    return None
