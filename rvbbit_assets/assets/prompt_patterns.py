"""prompt_patterns: the phrases that winning prompts of a species use, and losing ones don't.

The design's "N-gram Winner Patterns", computed in ClickHouse over prompt_lineage's base
prompts (generation 0) of every species at once: trigrams, the share of winner and of loser
prompts containing each, lift = winner share - loser share, and every trigram with a lift
above MIN_LIFT, as the design returns them. On sparse data most of those are chance: each
row says how many prompts it rests on and whether it is `significant` (MIN_PROMPTS_PER_OUTCOME
prompts of each outcome and a z-score of at least MIN_Z_SCORE); significant rows rank
first. RVBBIT does not always fill prompt_lineage; then the table is emptied and the metadata
says why.
"""

from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.assets.groups import INSIGHTS_GROUP
from rvbbit_assets.assets.sources import prompt_lineage
from rvbbit_assets.assets.store_asset import store_asset
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.column_schemas import table_metadata
from rvbbit_assets.store.sql_files import load_sql
from rvbbit_assets.store.table_writes import replace_table

# The design's threshold: the phrase is in at least 15 points more of the winners.
MIN_LIFT = 0.15
NGRAM_WORDS = 3  # the design's trigrams
# A significant pattern: its species has this many winner and loser base prompts (each) ...
MIN_PROMPTS_PER_OUTCOME = 20
# ... and its lift is this many standard errors from zero (two-proportion z-test).
# Hundreds of n-grams of every species are tested at once: at 2, a demo load let through a
# style phrase that the generator draws independently of winning; the planted one has z > 8.
MIN_Z_SCORE = 3.0
# English function words, as splitByNonAlpha splits them ("let's" -> "let", "s"). A
# trigram may contain them ("step by step") but not start or end with one.
STOP_WORDS: tuple[str, ...] = (
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "d", "do", "for", "from",
    "has", "have", "i", "if", "in", "is", "it", "its", "let", "ll", "m", "me", "my", "nor",
    "of", "on", "or", "our", "re", "s", "so", "t", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "to", "us", "ve", "was", "we", "were",
    "what", "when", "which", "who", "will", "with", "would", "you", "your",
)
TOP_ROWS_SHOWN = 10


TOKENIZER = {"ngram_words": NGRAM_WORDS, "stop_words": list(STOP_WORDS)}


def tokenizer_key(session: StoreSession) -> int:
    """The prompt_ngrams rows of this tokenizer are those of this key: a hash of the n-gram
    length and the stop words, so other settings tokenize anew."""
    return session.scalar(
        "SELECT cityHash64({ngram_words:UInt8}, {stop_words:Array(String)})", TOKENIZER
    )


def tokenize_new_prompts(session: StoreSession, tokenizer: int) -> None:
    """Add the n-grams of every base prompt text not tokenized yet to the prompt_ngrams memo:
    a text is tokenized once ever, not on every run."""
    session.command(
        "INSERT INTO ${analytics}.prompt_ngrams (tokenizer, prompt_hash, ngrams) "
        + load_sql(__file__, "prompt_ngrams"),
        {**TOKENIZER, "tokenizer": tokenizer},
    )


def compute_prompt_patterns(session: StoreSession) -> pd.DataFrame:
    """Every trigram with a lift above MIN_LIFT of every species with a winner and a loser
    base prompt; significant ones first, then by lift."""
    tokenizer = tokenizer_key(session)
    tokenize_new_prompts(session, tokenizer)
    return session.df(
        load_sql(__file__, "prompt_patterns"),
        {
            "min_prompts": MIN_PROMPTS_PER_OUTCOME,
            "min_lift": MIN_LIFT,
            "min_z_score": MIN_Z_SCORE,
            "ngram_words": NGRAM_WORDS,
            "tokenizer": tokenizer,
        },
    )


def lineage_overview(session: StoreSession) -> tuple[int, int]:
    """Base prompts in prompt_lineage, and species with a winner and a loser among them."""
    (base_prompts, species), = session.rows(
        "SELECT sum(prompts), countIf(species_hash NOT IN ('', 'unknown_species')"
        "                             AND winners > 0 AND losers > 0)"
        " FROM (SELECT species_hash, count() AS prompts, countIf(is_winner) AS winners,"
        "       countIf(NOT is_winner) AS losers"
        "       FROM ${source}.prompt_lineage WHERE generation = 0 GROUP BY species_hash)",
    )
    return int(base_prompts or 0), int(species or 0)


def top_patterns_markdown(frame: pd.DataFrame) -> str:
    """The significant patterns first, then the highest lifts, over all species."""
    top = frame.sort_values(
        ["significant", "lift", "species_hash", "pattern_rank"],
        ascending=[False, False, True, True],
    ).head(TOP_ROWS_SHOWN)
    return pd.DataFrame(
        {
            "species": top["species_hash"],
            "cell": top["cascade_id"] + "/" + top["cell_name"],
            "n-gram": top["ngram"],
            "in winners": top["winner_freq"].map("{:.0%}".format),
            "in losers": top["loser_freq"].map("{:.0%}".format),
            "lift": top["lift"].map("{:+.2f}".format),
            "prompts (w/l)": top["winner_prompts"].astype(str) + "/"
            + top["loser_prompts"].astype(str),
            "z": top["z_score"].map("{:.1f}".format),
            "significant": top["significant"].map({True: "yes", False: "no"}),
        }
    ).to_markdown(index=False)


def empty_result_note(base_prompts: int, species_compared: int) -> str:
    """Why the result is empty, when it is."""
    if base_prompts == 0:
        return (
            "prompt_lineage has no base prompts (generation 0): RVBBIT fills it only when "
            "prompt lineage tracking is on, so there is nothing to mine yet."
        )
    if species_compared == 0:
        return (
            f"No species has both a winner and a loser base prompt yet ({base_prompts} base "
            "prompts in all)."
        )
    return f"No trigram has a lift above {MIN_LIFT} in the {species_compared} species compared."


@store_asset(
    deps=[prompt_lineage],
    group_name=INSIGHTS_GROUP,
    metadata=table_metadata("prompt_patterns", also_writes=("prompt_ngrams",)),
    kinds={"clickhouse"},
    description=(
        "Winning prompt phrases per species: trigrams of prompt_lineage base prompts with "
        f"their winner and loser frequencies and lift, every one above {MIN_LIFT} (the "
        "design's rows), with the prompt counts, z-score and a significant flag (significant "
        "first), and the design's 'Try adding ...' advice."
    ),
)
def prompt_patterns(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    with store.session(f"prompt_patterns (run {context.run.run_id[:8]})") as session:
        base_prompts, species_compared = lineage_overview(session)
        frame = (
            compute_prompt_patterns(session) if species_compared else pd.DataFrame()
        )
        rows = replace_table(session, "prompt_patterns", frame)
    metadata: dict[str, Any] = {
        "dagster/row_count": rows,
        "base_prompts": base_prompts,
        "species_compared": species_compared,
    }
    if rows:
        metadata |= {
            "species_with_patterns": int(frame["species_hash"].nunique()),
            "significant_patterns": int(frame["significant"].astype(bool).sum()),
            "top_patterns": MetadataValue.md(top_patterns_markdown(frame)),
        }
    else:
        note = empty_result_note(base_prompts, species_compared)
        metadata["note"] = MetadataValue.text(note)
        context.log.info(f"prompt_patterns: empty. {note}")
    return MaterializeResult(metadata=metadata)
