"""Sorted category codes ahead of sklearn's encoders: the same matrix as from the strings."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from rvbbit_assets.analysis.category_codes import SortedCategoryCodes


def _frame(values: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"cascade_id": values, "origin": [v[::-1] for v in values]})


# Names whose first-seen order is not their sorted order, several rare (infrequent), and
# odd Unicode and quotes, which sort as Python sorts them.
TRAINING = _frame(["zeta"] * 9 + ["alpha"] * 7 + ["mid"] * 5 + ["ä'q"] * 3 + ["b\"x"] * 2
                  + ["rare1", "Rare0", "émoji🙂"])
LATER = _frame(["alpha", "unseen", "zeta", "émoji🙂", "never", "b\"x", "Rare0"])


@pytest.mark.parametrize("encoder", [
    lambda: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                           max_categories=4),
    lambda: OneHotEncoder(handle_unknown="ignore", max_categories=3, sparse_output=False),
])
def test_an_encoder_over_the_codes_gives_the_matrix_it_gives_from_the_strings(encoder):
    from_strings = encoder().fit(TRAINING)
    codes = SortedCategoryCodes().fit(TRAINING)
    from_codes = encoder().fit(codes.transform(TRAINING))
    for frame in (TRAINING, LATER):
        np.testing.assert_array_equal(from_codes.transform(codes.transform(frame)),
                                      from_strings.transform(frame))


def test_an_unseen_value_is_minus_one_and_others_their_sorted_position():
    codes = SortedCategoryCodes().fit(TRAINING).transform(LATER)
    ordered = sorted(set(TRAINING["cascade_id"]))
    assert codes["cascade_id"].tolist() == [
        ordered.index("alpha"), -1, ordered.index("zeta"), ordered.index("émoji🙂"), -1,
        ordered.index("b\"x"), ordered.index("Rare0")]
