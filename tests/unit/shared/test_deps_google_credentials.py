"""The Google clients of one process share one credentials object (shared/deps.py): google.auth.default()
runs once, and one access token serves storage, Firestore and BigQuery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.config import load_settings
from shared.deps import CLOUD_PLATFORM_SCOPE, Deps


def service_account_file(folder: Path) -> Path:
    """A service account key made here (no account of anyone's): google.auth.default() reads it offline."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = folder / "key.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "mlops-events-test",
                "private_key_id": "0",
                "private_key": pem,
                "client_email": "tester@mlops-events-test.iam.gserviceaccount.com",
                "client_id": "0",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def test_the_cloud_clients_share_one_credentials_object_scoped_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # GIVEN the cloud profile, with application default credentials from a key file
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file(tmp_path)))
    deps = Deps(load_settings({"MLOPS_EVENTS_PROFILE": "cloud", "MLOPS_EVENTS_GCP_PROJECT": "mlops-events-test"}))

    # WHEN the three clients are built
    clients = [deps.storage_client(), deps.firestore_sdk_client(), deps.bigquery_client()]

    # THEN each holds the very same credentials object (no copy per client's scopes): one token for all
    assert all(client._credentials is deps.google_credentials for client in clients)
    assert deps.google_credentials.scopes == [CLOUD_PLATFORM_SCOPE]


def test_the_emulators_profile_shares_anonymous_credentials(monkeypatch: pytest.MonkeyPatch):
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")  # not contacted: building a client calls nothing
    settings = {"MLOPS_EVENTS_PROFILE": "emulators", "MLOPS_EVENTS_BIGQUERY_ENDPOINT": "http://127.0.0.1:9"}
    deps = Deps(load_settings(settings))

    clients = [deps.storage_client(), deps.firestore_sdk_client(), deps.bigquery_client()]

    assert isinstance(deps.google_credentials, AnonymousCredentials)
    assert all(client._credentials is deps.google_credentials for client in clients)
