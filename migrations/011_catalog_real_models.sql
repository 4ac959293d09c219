-- The first real models of the catalog, served by OpenRouter under their
-- OpenRouter ids: live keys call them there, and test keys get the
-- sandbox's simulation of them at these same prices (in test money), so
-- that an app's code names the same model in test and live mode. Prices are
-- pico-dollars per token: $1 per million tokens is 1000000.
INSERT INTO models (id, upstream, upstream_model, kind, display_name, prompt_price, completion_price, context_length, max_output_tokens) VALUES
    ('openai/gpt-4o-mini',            'openrouter', 'openai/gpt-4o-mini',            'chat',      'GPT-4o mini',            150000,  600000,   128000, 16384),
    ('openai/gpt-4o',                 'openrouter', 'openai/gpt-4o',                 'chat',      'GPT-4o',                 2500000, 10000000, 128000, 16384),
    ('anthropic/claude-sonnet-4',     'openrouter', 'anthropic/claude-sonnet-4',     'chat',      'Claude Sonnet 4',        3000000, 15000000, 200000, 64000),
    ('openai/text-embedding-3-small', 'openrouter', 'openai/text-embedding-3-small', 'embedding', 'Text Embedding 3 Small', 20000,   0,        8192,   1);

---- create above / drop below ----

DELETE FROM models WHERE id IN ('openai/gpt-4o-mini', 'openai/gpt-4o', 'anthropic/claude-sonnet-4', 'openai/text-embedding-3-small');
