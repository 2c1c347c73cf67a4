"""Local stand-ins for the providers notifier talks to, reusable by any test.

Each fake is a real server on ``127.0.0.1`` (random port) so channels are exercised
through their real client libraries:

- :mod:`tests.fakes.smtp`            ``SmtpSink``          aiosmtpd server, scripted 4xx/5xx
- :mod:`tests.fakes.twilio_server`   ``FakeTwilio``        Messages.json, scripted failures
- :mod:`tests.fakes.push_endpoint`   ``FakePushService``   Web Push endpoint + ``PushClient`` keys
- :mod:`tests.fakes.fcm_server`      ``FakeFcm``           FCM HTTP v1 + OAuth2 token endpoint
- :mod:`tests.fakes.tls`             ``SelfSignedCert``    certificates for TLS tests
"""
