"""relaycast's domain package: the one package every function shares through the Lambda layer."""
