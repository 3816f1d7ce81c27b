"""The inference service (FastAPI + torch) for Cloud Run, k3s and Lambda, and the batch prediction job."""
