"""Streamlit web app for speech emotion recognition.

The app is a thin client: every prediction comes from the inference API over HTTP
(:mod:`ser_ui.client`); this package only uploads audio and draws the answers.
"""
