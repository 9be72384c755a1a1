"""The cost model's candidate estimators (cost_model.py says why these and their sizes).

A module of its own so that scikit-learn comes with it: cost_model imports it where an
estimator is made, and the workers' forkserver preloads it (worker_pool.py).
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from rvbbit_assets.analysis.category_codes import SortedCategoryCodes


def _coded(encoder: OrdinalEncoder | OneHotEncoder) -> Pipeline:
    """`encoder` over the categories' sorted codes: the same matrix as from the strings, at
    numpy speed (category_codes.py)."""
    return Pipeline([("codes", SortedCategoryCodes()), ("encode", encoder)])


def gradient_boosting(categorical: list[str]) -> Pipeline:
    """Gradient boosting over the `categorical` columns (first) and the others as they are."""
    encode = ColumnTransformer(
        [
            (
                "categories",
                _coded(OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    max_categories=200,
                )),
                categorical,
            )
        ],
        remainder="passthrough",
    )
    boost = HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=75,
        learning_rate=0.2,
        max_leaf_nodes=15,
        categorical_features=list(range(len(categorical))),
        early_stopping=False,
        random_state=0,
    )
    return Pipeline([("encode", encode), ("boost", boost)])


def ridge(categorical: list[str], numeric: list[str]) -> Pipeline:
    """A ridge regression over the `categorical` columns one-hot and the `numeric` scaled."""
    encode = ColumnTransformer(
        [
            (
                "categories",
                _coded(OneHotEncoder(handle_unknown="ignore", max_categories=50)),
                categorical,
            ),
            ("numbers", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("encode", encode), ("ridge", Ridge(alpha=1.0))])
