-- The function family against the emulator (deterministic rules:
-- classification picks the first label mentioned in the text, else the
-- first label; extraction reads "name: value"; sentiment counts words).
LOAD 'pg_claude';
\i sql/include/try.sql

CREATE TABLE support_tickets (id int PRIMARY KEY, customer text, body text);
INSERT INTO support_tickets VALUES
  (1, 'Acme',    'Billing problem: I was charged twice for my March invoice.'),
  (2, 'Globex',  'Bug: the export page crashes when I click download.'),
  (3, 'Acme',    'Praise for the new dashboard, it is great and I love it.'),
  (4, 'Initech', 'Login fails after the update; terrible experience, very frustrating.'),
  (5, 'Acme',    'Question about seats: can we add 12 more users?');

-- claude_classify: always one of the labels
SELECT id, claude_classify(body, ARRAY['billing', 'bug', 'praise', 'question']) AS label
FROM support_tickets ORDER BY id;
-- labels with descriptions, and instructions
SELECT id, claude_classify(body,
         '{"billing": "charges, invoices, refunds", "bug": "something is broken", "other": "anything else"}'::jsonb,
         instructions => 'Tickets about logins count as bugs.') AS label
FROM support_tickets ORDER BY id;
-- several labels at once, in the order given
SELECT claude_classify_multi('Billing bug: the invoice page crashes', ARRAY['praise', 'bug', 'billing']);
SELECT claude_classify_multi('Nothing to see here', ARRAY['praise', 'bug']);

-- claude_extract: schema-valid jsonb
SELECT claude_extract(E'customer: Acme Pty Ltd\nseats: 12\nurgent: true',
  '{"type": "object",
    "properties": {"customer": {"type": "string"},
                   "seats": {"type": "integer"},
                   "urgent": {"type": "boolean"}},
    "required": ["customer", "seats"]}');
SELECT claude_extract('priority: high', '{"type": "object", "properties": {"priority": {"type": "string", "enum": ["low", "high"]}}, "required": ["priority"]}');

-- claude_sentiment: a number in [-1, 1]
SELECT id, claude_sentiment(body) AS sentiment FROM support_tickets ORDER BY id;

-- claude_summarize and the aggregate
SELECT claude_summarize('The printer on level 3 is jammed again. Please send someone today.', 20);
SELECT customer, claude_summarize_agg(body ORDER BY id) AS summary
FROM support_tickets GROUP BY customer ORDER BY customer;
SELECT claude_summarize_agg(body, 30) FROM support_tickets WHERE false;

-- a group of 2,000 rows, summarised in stages
SET claude.summarize_chunk_tokens = 2000;
SELECT requests AS before FROM claude_http_stats() \gset
SELECT claude_summarize_agg('Ticket ' || g || ': customer reports issue number ' || g || ' with the portal.' ORDER BY g)
FROM generate_series(1, 2000) g;
SELECT requests - :before > 10 AS summarised_in_stages FROM claude_http_stats();
RESET claude.summarize_chunk_tokens;

-- claude_count_tokens: CountTokens, text and a whole body
SELECT claude_count_tokens('Hello, Claude') > 0 AS counted;
SELECT claude_count_tokens('{"messages": [{"role": "user", "content": "Hello, Claude"}]}'::jsonb)
     = claude_count_tokens('Hello, Claude') AS same_count;

-- NULL in, NULL out
SELECT claude_classify(NULL, ARRAY['a', 'b']) IS NULL AS classify,
       claude_extract(NULL, '{"type": "object"}') IS NULL AS extract,
       claude_sentiment(NULL) IS NULL AS sentiment,
       claude_summarize(NULL) IS NULL AS summarize,
       claude_count_tokens(NULL::text) IS NULL AS count_tokens;

-- bad input: a clear error with a fitting SQLSTATE, before anything is sent
SELECT requests AS before FROM claude_http_stats() \gset
SELECT pg_temp.try($$SELECT claude_classify('', ARRAY['a', 'b'])$$);
SELECT pg_temp.try($$SELECT claude_classify('x', ARRAY[]::text[])$$);
SELECT pg_temp.try($$SELECT claude_classify('x', ARRAY['a', 'a'])$$);
SELECT pg_temp.try($$SELECT claude_classify('x', ARRAY['a', NULL])$$);
SELECT pg_temp.try($$SELECT claude_classify('x', ARRAY['a', ''])$$);
SELECT pg_temp.try($$SELECT claude_classify('x', NULL::text[])$$);
SELECT pg_temp.try($$SELECT claude_classify('x', '["a", "b"]'::jsonb)$$);
SELECT pg_temp.try($$SELECT claude_classify('x', '{"a": 1}'::jsonb)$$);
SELECT pg_temp.try($$SELECT claude_classify('x', '{}'::jsonb)$$);
SELECT pg_temp.try($$SELECT claude_extract('x', '"string"')$$);
SELECT pg_temp.try($$SELECT claude_extract('x', '{"type": "string"}')$$);
SELECT pg_temp.try($$SELECT claude_extract('x', '[]')$$);
SELECT pg_temp.try($$SELECT claude_extract('x', '{"type": "object", "properties": []}')$$);
SELECT pg_temp.try($$SELECT claude_extract('x', '{"type": "object", "properties": {"a": {"type": "text"}}}')$$);
SELECT pg_temp.try($$SELECT claude_extract('x', '{"type": "object", "required": "a"}')$$);
SELECT pg_temp.try($$SELECT claude_extract('x', '{bad json')$$);
SELECT pg_temp.try($$SELECT claude_extract('x', NULL)$$);
SELECT pg_temp.try($$SELECT claude_extract('   ', '{"type": "object"}')$$);
SELECT pg_temp.try($$SELECT claude_summarize('x', 0)$$);
SELECT pg_temp.try($$SELECT claude_summarize('x', -5)$$);
SELECT pg_temp.try($$SELECT claude_summarize_agg(b, 0) FROM (VALUES ('x')) v(b)$$);
SELECT pg_temp.try($$SELECT claude_sentiment('')$$);
-- an input longer than the model's context window (claude.models: 200,000
-- tokens for Sonnet 4.5) is refused before sending
SELECT pg_temp.try($$SELECT claude_summarize(repeat('word ', 150000), model => 'au.anthropic.claude-sonnet-4-5-20250929-v1:0')$$);
SELECT pg_temp.try($$SELECT claude_classify(repeat('a', 700000), ARRAY['a', 'b'], model => 'au.anthropic.claude-sonnet-4-5-20250929-v1:0')$$);
SELECT requests - :before AS requests_sent_for_bad_input FROM claude_http_stats();

-- claude.on_error = 'null': a failing row is NULL with a WARNING
SELECT pg_temp.try($$SELECT claude_classify('x', ARRAY['a', 'b'], model => 'anthropic.claude-nonexistent-v9:0')$$);
SET claude.on_error = 'null';
\set VERBOSITY terse
SELECT id, claude_classify(body, ARRAY['billing', 'bug'],
         model => CASE WHEN id = 2 THEN 'anthropic.claude-nonexistent-v9:0' END) AS label
FROM support_tickets WHERE id <= 3 ORDER BY id;
\set VERBOSITY default
SELECT claude_sentiment('') IS NULL AS empty_is_null;
SELECT claude_summarize(repeat('word ', 150000), model => 'au.anthropic.claude-sonnet-4-5-20250929-v1:0') IS NULL AS too_long_is_null;
-- residency refusals are never swallowed
SELECT pg_temp.try($$SELECT claude_classify('x', ARRAY['a', 'b'], model => 'us.anthropic.claude-sonnet-4-5-20250929-v1:0')$$);
RESET claude.on_error;
