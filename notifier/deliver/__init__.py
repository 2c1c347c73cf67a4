"""Deliver: hand composed messages to providers (SMTP, Twilio, Web Push, FCM, files).

Channels never touch the database; the dispatcher records attempts and calls
``channel.send(outgoing)``. Build them once with :func:`notifier.deliver.registry.build_channels`.
"""
