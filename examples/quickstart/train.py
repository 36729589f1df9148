"""Train the quickstart's two models on the diabetes data that scikit-learn ships.

blue:  ordinary least squares regression  -> model-1/model/sklearn_regression_model.pkl
green: ridge regression (alpha=0.1)        -> model-2/model/sklearn_regression_model.pkl

Run from this folder with the versions pinned in environment/conda.yml:
    python train.py
"""

import json
from pathlib import Path

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge

HERE = Path(__file__).parent


def main() -> None:
    features, target = load_diabetes(return_X_y=True)
    models = {"model-1": LinearRegression(), "model-2": Ridge(alpha=0.1)}
    for folder, model in models.items():
        model.fit(features, target)
        out = HERE / folder / "model" / "sklearn_regression_model.pkl"
        out.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, out)
        print(f"{out.relative_to(HERE)}: R^2 {model.score(features, target):.3f}")
    sample = {"data": [[round(v, 6) for v in row] for row in features[:2].tolist()]}
    (HERE / "sample-request.json").write_text(json.dumps(sample, indent=2) + "\n")


if __name__ == "__main__":
    main()
