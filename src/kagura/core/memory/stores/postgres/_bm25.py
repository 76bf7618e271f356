"""Keyword search on PostgreSQL ranked exactly like the SQLite store's FTS5 ``bm25()`` (same column weights).

**Write side.** Each chunk row keeps the tokens FTS5 would index (``porter unicode61``, computed in Python
by :func:`~kagura.core.memory.stores.postgres._unicode61.fts5_tokens`), one ``text[]`` per FTS5 column in
order: ``kw_text``, ``kw_relpath``, ``kw_name``, ``kw_section``, and ``kw_len``, their total. ``kw_tf`` maps
each distinct token of the row to its weighted frequency (the sum of the column weights over its
occurrences), a ``jsonb`` object: its GIN index (``jsonb_ops``, which hashes keys too long for an index
entry) finds the rows holding a token, and a single-token phrase's frequency is one lookup in it; the arrays
are read only for phrases of several tokens, in rows holding all of them. ``rag_kw_stats`` keeps the row
count and the token total (what FTS5 needs for the average row length), spread over 64 slots a
statement-level trigger on ``rag_chunks`` updates (the backend's slot), so concurrent writers rarely touch
the same row.

**Query side.** The query's words (:func:`~kagura.core.memory.stores._keywords.keyword_words`, as for
SQLite) are each a phrase of FTS5 tokens (``smtp_ssl_port`` is the phrase ``smtp ssl port``), OR-ed
together. For each phrase ``p`` and row: the weighted frequency ``f_p`` is the sum of the column weights
over the phrase's occurrences; ``n_p`` is the number of rows of the whole table where it occurs (a
``file_type`` filter does not change the statistics, as in SQLite); with ``N`` rows, ``avgdl`` the mean row
length and ``D`` the row's length, the score is the sum over phrases of::

    idf_p * ((f_p * (k1 + 1)) / (f_p + k1 * (1 - b + b * D / avgdl)))     k1 = 1.2, b = 0.75
    idf_p = ln((N - n_p + 0.5) / (n_p + 0.5)), or 1e-6 when that is not positive

evaluated in the same order as FTS5, so scores are FTS5's to the last bit (and equal scores are ordered by
chunk id, as SQLite orders by rowid). Only rows matching some phrase are returned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kagura.core.memory.stores._file_kinds import keyword_name
from kagura.core.memory.stores._keywords import COLUMN_WEIGHTS, keyword_words
from kagura.core.memory.stores.postgres._unicode61 import fts5_tokens

__all__ = [
    "KEYWORD_COLUMNS",
    "KEYWORD_SCHEMA",
    "KEYWORD_VALUES",
    "keyword_search",
    "keyword_sql",
    "keyword_values",
    "path_tokens",
    "rebuild_keywords",
]

KEYWORD_COLUMNS = ("kw_text", "kw_relpath", "kw_name", "kw_section")
"""The token arrays of a chunk row, in FTS5's column order (text, relpath, name, section)."""
_K1 = 1.2
_B = 0.75
_IDF_FLOOR = 1e-6
_SLOTS = 64

KEYWORD_SCHEMA = f"""
CREATE INDEX IF NOT EXISTS rag_chunks_kw ON rag_chunks USING GIN (kw_tf);
CREATE TABLE IF NOT EXISTS rag_kw_stats (
    slot INTEGER PRIMARY KEY, n_rows BIGINT NOT NULL DEFAULT 0, n_tokens BIGINT NOT NULL DEFAULT 0
);
INSERT INTO rag_kw_stats (slot) SELECT generate_series(0, {_SLOTS - 1}) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION rag_kw_stats_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rows_added BIGINT := 0;
    tokens_added BIGINT := 0;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT count(*), coalesce(sum(kw_len), 0) INTO rows_added, tokens_added FROM new_rows;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT rows_added - count(*), tokens_added - coalesce(sum(kw_len), 0)
            INTO rows_added, tokens_added FROM old_rows;
    END IF;
    IF rows_added <> 0 OR tokens_added <> 0 THEN
        UPDATE rag_kw_stats SET n_rows = n_rows + rows_added, n_tokens = n_tokens + tokens_added
        WHERE slot = pg_backend_pid() % {_SLOTS};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER rag_chunks_kw_insert AFTER INSERT ON rag_chunks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rag_kw_stats_count();
CREATE TRIGGER rag_chunks_kw_delete AFTER DELETE ON rag_chunks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rag_kw_stats_count();
CREATE TRIGGER rag_chunks_kw_update AFTER UPDATE ON rag_chunks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rag_kw_stats_count();
"""
"""The GIN index, the statistics table and its triggers (created once the token columns are filled)."""


KEYWORD_VALUES = "%s::text[], %s::text[], %s::text[], %s::text[], %s::jsonb, %s"
"""Placeholders for :func:`keyword_values` in ``INSERT INTO rag_chunks (..., {KEYWORD_COLUMNS}, kw_tf,
kw_len)``."""


def path_tokens(relpath: str) -> tuple[list[str], list[str]]:
    """The tokens of a file's relative path and of its name column (:func:`keyword_name`: the name and the
    words of its kind; the same for all its chunks)."""
    return fts5_tokens(relpath), fts5_tokens(keyword_name(relpath))


def keyword_values(text: str, section: str | None, paths: tuple[list[str], list[str]]) -> tuple[Any, ...]:
    """A chunk row's keyword columns: its token arrays (:data:`KEYWORD_COLUMNS` order), keys and length."""
    arrays = (fts5_tokens(text), *paths, fts5_tokens(section or ""))
    frequencies: dict[str, float] = {}
    for tokens, weight in zip(arrays, COLUMN_WEIGHTS, strict=True):
        for token in tokens:
            frequencies[token] = frequencies.get(token, 0.0) + weight
    tf = json.dumps(frequencies, ensure_ascii=False, separators=(",", ":"))
    return (*arrays, tf, sum(len(a) for a in arrays))


def rebuild_keywords(conn: Any, *, batch: int = 2000) -> None:
    """Fill the token columns of every stored chunk from its text, then create the index, the statistics
    (from what was filled) and their triggers. Runs inside a migration's transaction."""
    n_rows = n_tokens = 0
    with conn.cursor(name="kagura_kw_rebuild") as rows, conn.cursor() as cur:
        rows.itersize = batch
        rows.execute(
            "SELECT c.id, c.text, d.relpath, c.section FROM rag_chunks c"
            " JOIN rag_documents d ON d.id = c.document_id ORDER BY c.id"
        )
        while chunk := rows.fetchmany(batch):
            params = [(*keyword_values(text, section, path_tokens(relpath)), cid)
                      for cid, text, relpath, section in chunk]  # fmt: skip
            n_rows += len(params)
            n_tokens += sum(p[-2] for p in params)
            cur.executemany(
                f"UPDATE rag_chunks SET ({', '.join(KEYWORD_COLUMNS)}, kw_tf, kw_len) = ({KEYWORD_VALUES})"
                " WHERE id = %s",
                params,
            )
    conn.execute(KEYWORD_SCHEMA.encode())
    conn.execute("UPDATE rag_kw_stats SET n_rows = %s, n_tokens = %s WHERE slot = 0", (n_rows, n_tokens))


def _phrase_frequency(tokens: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL for the weighted frequency of one phrase in row ``c``, and its parameters."""
    if len(tokens) == 1:  # stored per row
        return "coalesce((c.kw_tf -> %s::text)::float8, 0::float8)", [tokens[0]]
    # occurrences of the whole phrase, column by column, in rows holding each of its tokens
    terms = [
        f"{weight!r}::float8 * (SELECT count(*) FROM unnest(array_positions(c.{column}, %s::text)) i"
        f" WHERE c.{column}[i:i + {len(tokens) - 1}] = %s::text[])"
        for column, weight in zip(KEYWORD_COLUMNS, COLUMN_WEIGHTS, strict=True)
    ]
    params: list[Any] = [list(tokens)] + [tokens[0], list(tokens)] * len(KEYWORD_COLUMNS)
    return f"(CASE WHEN c.kw_tf ?& %s::text[] THEN {' + '.join(terms)} ELSE 0::float8 END)", params


def keyword_search(conn: Any, text: str, limit: int, file_type: str | None) -> list[tuple[int, float]]:
    """``(chunk id, BM25 score)`` of the ``limit`` best chunks for the words of ``text``, best first, equal
    scores by chunk id; the score is FTS5's ``bm25()`` negated (higher is better), as the SQLite store's."""
    query = keyword_sql(text, limit, file_type)
    if query is None:
        return []
    rows = conn.execute(*query).fetchall()
    return [(int(cid), float(value)) for cid, value in rows]


def keyword_sql(text: str, limit: int, file_type: str | None) -> tuple[bytes, list[Any]] | None:
    """The statement (and its parameters) behind :func:`keyword_search`; None when ``text`` has no token."""
    phrases = [tokens for tokens in (fts5_tokens(w) for w in keyword_words(text)) if tokens]
    if not phrases or limit <= 0:
        return None
    freq_sql: list[str] = []
    params: list[Any] = []
    for tokens in phrases:
        sql, values = _phrase_frequency(tokens)
        freq_sql.append(f"{sql} AS f{len(freq_sql)}")
        params += values
    params.append(sorted({t for tokens in phrases for t in tokens}))
    n = len(phrases)
    hits = ", ".join(f"count(*) FILTER (WHERE f{i} > 0)::float8 AS n{i}" for i in range(n))
    ln = "ln((s.n - h.n{i} + 0.5::float8) / (h.n{i} + 0.5::float8))"
    idf = ", ".join(
        f"CASE WHEN {ln.format(i=i)} <= 0 THEN {_IDF_FLOOR!r}::float8 ELSE {ln.format(i=i)} END AS idf{i}"
        for i in range(n)
    )
    # FTS5's order of operations, term by term: score += idf * ((f * (k1 + 1)) / (f + k1 * norm))
    norm = "(%s::float8 - %s::float8 + %s::float8 * cand.kw_len::float8 / w.avgdl)"
    score = " + ".join(
        f"w.idf{i} * ((cand.f{i} * (%s::float8 + 1.0::float8)) / (cand.f{i} + %s::float8 * {norm}))"
        for i in range(n)
    )
    score_params: list[Any] = [_K1, _K1, 1.0, _B, _B] * n
    matched = " OR ".join(f"cand.f{i} > 0" for i in range(n))
    sql = (
        f"WITH cand AS MATERIALIZED (SELECT c.id, c.file_type, c.kw_len, {', '.join(freq_sql)}"
        # kw_tf decompressed once per row, not once per lookup (OFFSET 0 keeps the subquery as it is)
        f" FROM (SELECT id, file_type, kw_len, kw_tf || '{{}}'::jsonb AS kw_tf, {', '.join(KEYWORD_COLUMNS)}"
        " FROM rag_chunks WHERE kw_tf ?| %s::text[] OFFSET 0) c),"
        " s AS (SELECT sum(n_rows)::float8 AS n, sum(n_tokens)::float8 AS total FROM rag_kw_stats),"
        f" h AS (SELECT {hits} FROM cand),"
        # one row, computed once (inlined, the planner may evaluate it again for every candidate)
        f" w AS MATERIALIZED (SELECT s.total / NULLIF(s.n, 0) AS avgdl, {idf} FROM s, h)"
        f" SELECT cand.id, {score} AS score FROM cand, w WHERE ({matched})"
        + (" AND cand.file_type = %s" if file_type is not None else "")
        + " ORDER BY score DESC, cand.id LIMIT %s"
    )
    params += score_params + ([file_type] if file_type is not None else []) + [int(limit)]
    return sql.encode(), params
