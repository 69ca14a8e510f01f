-- Errors: SQLSTATE, message, AWS detail and hint for each failure class
\i sql/include/try.sql

-- unknown model: ValidationException, not retried
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'anthropic.claude-nonexistent-v9:0')$$);
-- newer models are reachable in Sydney only through inference profiles
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'anthropic.claude-sonnet-4-5-20250929-v1:0')$$);
-- bad arguments are refused before anything is sent
SELECT pg_temp.try($$SELECT claude_complete('hi', max_tokens => 0)$$);
-- more than the model can write is max_tokens' fault, not the input's
SELECT pg_temp.try($$SELECT claude_complete('hi', max_tokens => 2147483647)$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'anthropic.claude-3-haiku-20240307-v1:0', max_tokens => 5000)$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => 'au.anthropic.claude-sonnet-5', max_tokens => 500000)$$);
SELECT pg_temp.try($$SELECT count(*) FROM claude_complete_batch(ARRAY['hi'], max_tokens => 2147483647)$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', temperature => 1.5)$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', temperature => 'NaN')$$);
SELECT pg_temp.try($$SELECT claude_complete('hi', model => '')$$);
-- a statement that fails part-way keeps the error of the failing row
SELECT pg_temp.try($$SELECT claude_complete(p, model => m)
  FROM (VALUES ('a', 'anthropic.claude-3-haiku-20240307-v1:0'), ('b', 'anthropic.claude-nonexistent-v9:0')) v(p, m)$$);
