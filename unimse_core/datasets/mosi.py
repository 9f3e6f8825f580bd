"""CMU-MOSI: 2,199 YouTube opinion clips, a sentiment score in [-3, 3] (docs/raw-data.md)."""

from unimse_core.datasets.msa import SentimentScores, SyntheticScores

DATASET = SentimentScores(
    name="mosi", title="MOSI", kind="score", card_name="cmu-mosi", label_kinds=("msa_labels",),
    feature_kind="msa_features", card_title="CMU-MOSI",
    paper={"MAE": 0.691, "Corr": 0.809, "Mult_acc_7": 48.68, "Has0_acc_2": 85.85, "Has0_F1_score": 85.83,
           "Non0_acc_2": 86.90, "Non0_F1_score": 86.42},
    writer=SyntheticScores(first_clip=1, numeric_ids=0.0, spoken=True, raters=(3, 5), joined_ids=True,
                           pickle_name="mosi_data_noalign.pkl", authors_label="MOSI-label.csv",
                           authors_pickle="mosi_data_0610.pkl", right_padded_variant="mixed_padding"))
