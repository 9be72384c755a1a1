"""The Pareto frontier's rules: when a model's place is significant and when a cheaper
model is worth advising (parameters of assets/pareto_frontier.sql; the page words them)."""

# Decided takes a model needs in a species/cell before its place on the frontier is
# significant (the design compares models with any number of takes).
MIN_TAKES_PER_MODEL = 20
# "Similar quality": at most this much lower, on the 0-1 scale of scores and win rates.
SIMILAR_QUALITY_MARGIN = 0.05
# A cheaper model is only worth recommending if it saves at least this share of the cost.
MIN_COST_SAVING = 0.10
