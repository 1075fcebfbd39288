"""Objective metrics and reports.

Entry points: ``evaluate.evaluate_folder`` (a folder of converted files against their sources
and, optionally, target-speaker references -> ``EvalReport``) and ``report.write_report``
(report.json + report.html). One module per metric: f0, speaker, dnsmos, mcd, loudness.
``selection`` names the default metric for keeping the best checkpoint (``mcd_db`` on the
held-out split converted back to its own singer) and says why.
"""
