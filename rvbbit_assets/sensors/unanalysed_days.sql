-- Per day: how many candidate runs (finished_without_analytics.sql) there are.
SELECT day, count() AS runs
FROM candidate_days
GROUP BY day
