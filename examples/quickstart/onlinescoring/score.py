import json
import logging
import os

import joblib
import numpy


def init():
    """Runs once when the deployment starts: load the model into memory."""
    global model
    # AZUREML_MODEL_DIR is <models>/<name>/<version>; a folder model keeps its folder name.
    model_path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "sklearn_regression_model.pkl")
    model = joblib.load(model_path)
    logging.info("Init complete")


def run(raw_data):
    """Runs per request: {"data": [[10 features], ...]} in, a list of predictions out."""
    data = numpy.array(json.loads(raw_data)["data"])
    result = model.predict(data)
    return result.tolist()
