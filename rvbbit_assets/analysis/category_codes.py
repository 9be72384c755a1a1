"""String categories as integers that sort as the strings do, ahead of sklearn's encoders.

sklearn counts and maps string (object) columns one value at a time in Python, which was most
of a cost-model fit's encoding time; integer columns it handles in numpy. A value's code is its
position among the training values in sorted order, so an encoder after this step finds the
same categories in the same order, picks the same infrequent ones and gives the same matrix as
it would from the strings. A value not seen in training is -1, which the encoder has not seen
either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class SortedCategoryCodes(TransformerMixin, BaseEstimator):
    """Each column's values as their positions among its sorted training values."""

    def fit(self, frame: pd.DataFrame, target: object = None) -> SortedCategoryCodes:
        # Distinct values by hash, then sorted as Python sorts strings (as sklearn does).
        self.categories_ = {name: pd.Index(sorted(pd.unique(frame[name].to_numpy(dtype=object))))
                            for name in frame.columns}
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            # get_indexer: each value's position, by hash; -1 for one not there.
            {name: categories.get_indexer(frame[name].to_numpy(dtype=object)).astype(np.int64)
             for name, categories in self.categories_.items()},
            index=frame.index,
        )
