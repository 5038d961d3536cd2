"""The public API under /api/v1/: API keys, jobs, results, models, studies and job-finished webhooks."""
