-- claude_complete against the emulator (answers are deterministic:
-- "You said: <prompt>", REPEAT SYSTEM / REPEAT PARAMS echo what it received;
-- sql/setup.sql created the extension and pointed this database at it)

SELECT claude_complete('Hello, Claude');

-- NULL prompt in, NULL out; NULL elsewhere means "use the setting"
SELECT claude_complete(NULL) IS NULL AS null_in_null_out;
SELECT claude_complete('Hello', NULL, NULL, NULL, NULL);

-- the system prompt travels
SELECT claude_complete('REPEAT SYSTEM', system => 'You are a terse assistant.');

-- defaults: claude.model, claude.max_tokens, no temperature
SELECT claude_complete('REPEAT PARAMS')::jsonb;

-- arguments override settings
SELECT claude_complete('REPEAT PARAMS', model => 'anthropic.claude-3-haiku-20240307-v1:0',
                       max_tokens => 50, temperature => 0.5)::jsonb;

-- settings are request defaults
SET claude.max_tokens = 77;
SET claude.temperature = '0.25';
SET claude.model = 'au.anthropic.claude-haiku-4-5-20251001-v1:0';
SELECT claude_complete('REPEAT PARAMS')::jsonb;
RESET claude.max_tokens;
RESET claude.temperature;
RESET claude.model;

-- text that needs escaping in JSON survives the round trip
SELECT claude_complete(E'Grüß Gott — 日本語 "quoted" back\\slash\ttab\nnewline');

-- an answer cut short at max_tokens comes back with a WARNING
SELECT claude_complete('one two three four five six seven', max_tokens => 4);

-- a model id with ':' and an inference profile ARN (path encoding)
SELECT claude_complete('REPEAT PARAMS', model => 'anthropic.claude-3-5-sonnet-20240620-v1:0')::jsonb->>'model';
SELECT claude_complete('REPEAT PARAMS',
    model => 'arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/au.anthropic.claude-sonnet-4-5-20250929-v1:0')::jsonb->>'model';

-- row by row over a table
CREATE TABLE tickets (id int PRIMARY KEY, body text);
INSERT INTO tickets VALUES
  (1, 'The printer on level 3 is jammed again. Please send someone today.'),
  (2, 'I was charged twice for my March invoice. Can you refund one charge?'),
  (3, 'Love the new dashboard! Exporting to CSV would make it perfect.');
SELECT id, claude_complete('Summarise this support ticket: ' || body) AS summary
FROM tickets ORDER BY id;

-- the transport reused its connection for all of the above
SELECT requests AS sent, connections = 1 AS one_connection FROM claude_http_stats();
