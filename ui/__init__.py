"""The Gradio chat page for the back-care bot: `python -m ui`."""
