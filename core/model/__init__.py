"""Model: building the Keras network from a spec, the model doctor and the pre-flight card."""
