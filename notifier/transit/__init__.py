"""Transit-time predictions learned from the shop's own delivered parcels.

How long a carrier still needs, given where the parcel is now, is read off Kaplan–Meier
curves fitted on the shop's history (:mod:`.fit`), stored versioned in the database
(:mod:`.storage`) so every worker predicts with the same model, and used by the
``shipment.at_risk`` trigger (:mod:`.risk`). :mod:`.backtest` and :mod:`.report` say how
good the predictions are. Time is counted in business hours (:mod:`.hours`).
"""
