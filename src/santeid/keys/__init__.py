"""The key store, by concern: ``lifecycle`` (the key model, generation, rotation,
retirement), ``storage`` (the key file) and ``signing`` (sign, verify, the JWK Set), on the common
base ``state`` (what they share).
:class:`santeid.keystore.KeyStore` assembles them; import from ``santeid.keystore``."""
