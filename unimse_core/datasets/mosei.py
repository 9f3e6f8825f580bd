"""CMU-MOSEI: 22,856 YouTube clips, a sentiment score in [-3, 3] (docs/raw-data.md)."""

from unimse_core.datasets.msa import SentimentScores, SyntheticScores

DATASET = SentimentScores(
    name="mosei", title="MOSEI", kind="score", card_name="cmu-mosei", label_kinds=("msa_labels",),
    feature_kind="msa_features", card_title="CMU-MOSEI",
    paper={"MAE": 0.523, "Mult_acc_7": 54.39, "Non0_acc_2": 87.50, "Non0_F1_score": 87.46},
    writer=SyntheticScores(first_clip=0, numeric_ids=0.05, spoken=False, raters=(3,), joined_ids=False,
                           pickle_name="mosei_senti_data_noalign.pkl", authors_label="MOSEI-label.csv",
                           authors_pickle="mosei_data_0610.pkl", unparsed_ids_variant="mosei_unparsed_ids"))
