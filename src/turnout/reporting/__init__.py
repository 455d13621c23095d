"""`turnout report`: DORA's five measures, the runbook's success metrics, trends and charts,
computed from turnout's own records (deployments, their journal and verification evidence)."""
