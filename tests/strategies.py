"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from debugger import query as q

# Characters that exercise the lexer: quotes, escapes, separators, wildcards, operators, unicode.
QUERY_ALPHABET = 'ab Zé:.,*"\\-<>=_ \t$@/1'

_text = st.text(alphabet='aZé:.,*"\\-<>= _$@/1\t', min_size=0, max_size=8)
_word = st.text(alphabet="abcXYZ_0123", min_size=1, max_size=6)
_segment = st.one_of(_word, st.text(alphabet='ab .:,*"\\-é', min_size=1, max_size=5))


def _pattern_pieces(draw_pieces: list[str | q.Wildcard]) -> q.Pattern:
    """Merge neighbours the way the parser does: adjacent text joins, stars collapse, "" only alone."""
    pieces: list[str | q.Wildcard] = []
    for piece in draw_pieces:
        if piece == "":
            continue
        if isinstance(piece, q.Wildcard):
            if not pieces or pieces[-1] is not q.STAR:
                pieces.append(q.STAR)
        elif pieces and isinstance(pieces[-1], str):
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return q.Pattern(tuple(pieces) or ("",))


patterns = st.lists(st.one_of(_text, st.just(q.STAR)), min_size=1, max_size=4).map(_pattern_pieces)
comparisons = st.builds(q.Comparison, st.sampled_from([">", ">=", "<", "<="]), _text.filter(bool))
paths = st.tuples(st.sampled_from(q.ROOTS), st.lists(_segment, max_size=3)).map(lambda t: (t[0], *t[1]))
negated = st.booleans()

text_terms = st.builds(q.TextTerm, _text.filter(bool), negated)
field_terms = st.builds(
    q.FieldTerm,
    st.sampled_from(["event", "user", "source", "lib", "id", "problem"]),
    st.lists(patterns, min_size=1, max_size=3).map(tuple),
    negated,
)
enum_terms = st.one_of(
    st.builds(q.FieldTerm, st.just("type"), st.lists(st.sampled_from(q.TYPES).map(lambda t: q.Pattern((t,))), min_size=1, max_size=2).map(tuple), negated),
    st.builds(q.FieldTerm, st.just("status"), st.lists(st.sampled_from(q.STATUSES).map(lambda t: q.Pattern((t,))), min_size=1, max_size=2).map(tuple), negated),
    st.builds(q.FieldTerm, st.just("pinned"), st.lists(st.sampled_from(q.BOOLEANS).map(lambda t: q.Pattern((t,))), min_size=1, max_size=2).map(tuple), negated),
)
path_terms = st.builds(q.PathTerm, paths, st.lists(st.one_of(patterns, comparisons), min_size=1, max_size=3).map(tuple), negated)
has_terms = st.builds(q.HasTerm, st.lists(paths, min_size=1, max_size=2).map(tuple), negated)
time_terms = st.builds(
    q.TimeTerm,
    st.sampled_from(["after", "before"]),
    st.sampled_from(["10m", "2h", "1d", "30s", "1w", "2024-05-01", "2024-05-01T12:00:00Z", "2024-05-01 12:00"]),
    negated,
)
terms = st.one_of(text_terms, field_terms, enum_terms, path_terms, has_terms, time_terms)
queries = st.lists(terms, max_size=5).map(lambda ts: q.Query(tuple(ts)))
