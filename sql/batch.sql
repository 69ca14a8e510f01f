-- Set-based forms: one row (ord, result, error) per element, in order;
-- a failed element is its row's error, not an aborted statement.
LOAD 'pg_claude';
SELECT * FROM claude_complete_batch(ARRAY['one', 'two', NULL, 'three', '']);
SELECT * FROM claude_complete_batch(ARRAY[]::text[]);
SELECT * FROM claude_complete_batch(NULL);
SELECT * FROM claude_complete_batch(ARRAY['REPEAT PARAMS'], system => 'terse', max_tokens => 64, temperature => 0.5, model => 'au.anthropic.claude-sonnet-4-5-20250929-v1:0');
-- Sonnet 5 refuses sampling settings: an explicit temperature is refused before anything is sent
SELECT * FROM claude_complete_batch(ARRAY['REPEAT PARAMS'], temperature => 0.5);

CREATE TABLE batch_tickets (id int PRIMARY KEY, body text, label text);
INSERT INTO batch_tickets VALUES
  (1, 'Billing: charged twice for March.', NULL),
  (2, 'Bug: export crashes.', NULL),
  (3, 'Praise for the dashboard, I love it.', NULL),
  (4, 'Where is my invoice? billing question', NULL);

-- the idiom for "classify this column fast": array_agg, the batch function, join back by ord
WITH b AS (SELECT array_agg(body ORDER BY id) AS bodies, array_agg(id ORDER BY id) AS ids FROM batch_tickets)
UPDATE batch_tickets t SET label = r.label
FROM b, claude_classify_batch(b.bodies, ARRAY['billing', 'bug', 'praise']) r
WHERE t.id = b.ids[r.ord];
SELECT id, label FROM batch_tickets ORDER BY id;

SELECT * FROM claude_extract_batch(ARRAY['seats: 5', 'seats: 7', NULL],
  '{"type": "object", "properties": {"seats": {"type": "integer"}}, "required": ["seats"]}');
SELECT * FROM claude_sentiment_batch(ARRAY['I love it, great', 'terrible and broken', 'it arrived']);
SELECT * FROM claude_summarize_batch(ARRAY['The printer on level 3 is jammed again. Please send someone.'], 10);

-- every element fails the same way: still rows, with errors
SELECT ord, completion, regexp_replace(error, 'request id [0-9a-f-]{36}', 'request id <id>') AS error
FROM claude_complete_batch(ARRAY['x', 'y'], model => 'anthropic.claude-nonexistent-v9:0');

-- statement-level problems still raise: bad arguments, residency
SELECT * FROM claude_classify_batch(ARRAY['x'], ARRAY[]::text[]);
SELECT * FROM claude_extract_batch(ARRAY['x'], '{"type": "string"}');
SELECT * FROM claude_summarize_batch(ARRAY['x'], 0);
SELECT * FROM claude_complete_batch(ARRAY['x'], model => 'us.anthropic.claude-sonnet-4-5-20250929-v1:0');
