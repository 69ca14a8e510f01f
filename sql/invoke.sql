-- claude_invoke: a raw Messages body in, the whole response out
\i sql/include/try.sql

SELECT r->'content'->0->>'text' AS text, r->>'role' AS role, r->>'type' AS type,
       r->>'stop_reason' AS stop_reason,
       (r->'usage'->>'input_tokens')::int > 0 AS has_input_tokens,
       (r->'usage'->>'output_tokens')::int > 0 AS has_output_tokens
FROM claude_invoke('{"messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 100}') AS r;

-- anthropic_version and max_tokens are filled in; content blocks work
SELECT claude_invoke('{"messages": [{"role": "user", "content": [{"type": "text", "text": "REPEAT PARAMS"}]}]}')
       ->'content'->0->>'text';

-- multi-turn: the last user turn is answered
SELECT claude_invoke('{"messages": [
  {"role": "user", "content": "first"},
  {"role": "assistant", "content": "You said: first"},
  {"role": "user", "content": "second"}]}')->'content'->0->>'text';

-- "model" in the body chooses the model (Bedrock takes it from the path)
SELECT claude_invoke('{"model": "anthropic.claude-3-haiku-20240307-v1:0",
  "messages": [{"role": "user", "content": "REPEAT PARAMS"}]}')->'content'->0->>'text';
-- an explicit argument wins over the body
SELECT claude_invoke('{"model": "anthropic.claude-3-haiku-20240307-v1:0",
  "messages": [{"role": "user", "content": "REPEAT PARAMS"}]}',
  'au.anthropic.claude-haiku-4-5-20251001-v1:0')->'content'->0->>'text';

SELECT claude_invoke(NULL) IS NULL AS null_in_null_out;

-- bodies Bedrock refuses come back as errors with the AWS code
SELECT pg_temp.try($$SELECT claude_invoke('[1, 2, 3]')$$);
SELECT pg_temp.try($$SELECT claude_invoke('{"messages": []}')$$);
SELECT pg_temp.try($$SELECT claude_invoke('{"messages": [{"role": "user", "content": "x"}], "temperature": 7}')$$);
SELECT pg_temp.try($$SELECT claude_invoke('{"model": 42, "messages": []}')$$);
