"""Where the code runs: child processes the web server starts (one-shot children, the warm helper, their
lifetime) and the backend and devices Keras uses."""
