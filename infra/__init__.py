"""relaycast's CDK app: one stack per event, one construct per concern."""
