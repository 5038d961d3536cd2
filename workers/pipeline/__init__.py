"""GEN_REC's vision pipeline: pure Python (numpy, OpenCV, scikit-learn, joblib), never imports Django."""
