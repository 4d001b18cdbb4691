"""MQTT: recorder liveness from Frigate, alerts and Home Assistant discovery out."""
