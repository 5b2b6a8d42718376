"""What the programme publishes, one module per product: the GLOCA annual report, risk
bulletins, early-warning notes and data exports, each read from the published copy of its
own marking level and marked in its file name, its metadata and on every page."""
