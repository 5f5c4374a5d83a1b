"""Insight (SPEC 13): predictive lifetime value (BG/NBD + Gamma-Gamma) and the lead score.

Model code works on numpy arrays and knows nothing of the database; :mod:`crm.insight.data`
builds the per-customer summaries in SQL; :mod:`crm.insight.clv` and
:mod:`crm.insight.leadscore` store fits and per-record figures that cards, segments and the
digest read.
"""
