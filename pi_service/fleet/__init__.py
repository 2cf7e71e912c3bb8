"""Many treadmills: this companion on an MQTT broker, with Home Assistant discovery (spec 11).

- topics.py: the topic tree, from `[mqtt]`.
- state.py: the `<base>/state` message, made from a published snapshot (pure).
- discovery.py: Home Assistant's discovery configs for this treadmill (pure).
- broker.py: the paho-mqtt client as the config sets it up (login, TLS, last will), and what
  a failure to connect means, in one line; `doctor` and `mqtt` use it too.
- publisher.py: the daemon's publisher thread: a reader of the snapshot board and of the
  history's outbox, like the web layer; never in the sampling process.
"""
