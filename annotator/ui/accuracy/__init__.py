"""The Accuracy panel of the app."""
