"""The demo's CT data and model (tooling/ct_demo.py), checked against independent readers.

GIVEN synthetic chest slices written as DICOM
WHEN pydicom reads them back and the inference service's own loader loads the trained model
THEN the files are CT Image Storage with the headers a scanner writes, their stored values map back to
the Hounsfield units drawn, a lesion is visible in the lung window, the AUC agrees with scipy's
Mann-Whitney U, and training is deterministic and gives a torch.export program the service loads.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from scipy.stats import mannwhitneyu

from tooling import ct_demo


def test_a_slice_is_ct_with_realistic_headers_and_exact_hounsfield_units():
    hu = ct_demo.phantom(np.random.default_rng(3), lesion=True)
    dataset = pydicom.dcmread(io.BytesIO(ct_demo.dicom_bytes(hu, instance=5, series_seed=9)))
    assert dataset.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert dataset.SOPClassUID == pydicom.uid.CTImageStorage and dataset.Modality == "CT"
    assert (dataset.Rows, dataset.Columns) == (ct_demo.SLICE, ct_demo.SLICE)
    assert float(dataset.RescaleSlope) == 1 and float(dataset.RescaleIntercept) == -1024
    assert [float(v) for v in dataset.PixelSpacing] == [0.7, 0.7] and dataset.InstanceNumber == 5
    restored = dataset.pixel_array.astype(np.int32) * int(dataset.RescaleSlope) + int(dataset.RescaleIntercept)
    assert np.array_equal(restored, hu.astype(np.int32))
    assert hu.min() >= -1024 and hu.max() <= 3071
    for uid in (dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID):
        assert pydicom.uid.UID(uid).is_valid


def test_slices_are_deterministic_and_a_lesion_adds_soft_tissue_in_a_lung():
    first = ct_demo.phantom(np.random.default_rng(1), lesion=False)
    assert np.array_equal(first, ct_demo.phantom(np.random.default_rng(1), lesion=False))
    clear = [ct_demo.phantom(np.random.default_rng(s), lesion=False) for s in range(20)]
    lesion = [ct_demo.phantom(np.random.default_rng(s), lesion=True) for s in range(20)]
    # In the lung window a nodule shows as more pixels above -500 HU inside the body's middle.
    middle = slice(ct_demo.SLICE // 4, 3 * ct_demo.SLICE // 4)

    def bright(hu):
        return int((hu[middle, middle] > -500).sum())

    assert np.mean([bright(h) for h in lesion]) > np.mean([bright(h) for h in clear])
    assert ct_demo.dicom_bytes(first, instance=1) == ct_demo.dicom_bytes(first, instance=1)


@pytest.mark.parametrize("seed", range(5))
def test_auc_is_mann_whitney_u_over_the_pairs(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60).astype(np.float32)
    scores = np.round(rng.random(60) + 0.3 * labels, 1)  # rounded: ties count half, as in U
    u = mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert ct_demo.auc(scores, labels) == pytest.approx(u / ((labels == 1).sum() * (labels == 0).sum()))


def test_training_is_deterministic_and_the_service_loads_the_program():
    from mlops_inference.model import load_model

    small = {"trained": 96, "held_out": 64, "epochs": 2}
    first, second = ct_demo.train(**small), ct_demo.train(**small)
    assert first.files["model.pt2"] == second.files["model.pt2"]
    assert first.auc == second.auc and 0.0 <= first.auc <= 1.0
    loaded = load_model(ct_demo.MODEL_NAME, 1, first.files)
    assert loaded.spec.kind == "image" and loaded.spec.output.labels == ct_demo.LABELS
    assert loaded.spec.extra["metrics"]["auc"] == round(first.auc, 4)
    assert len(first.files["model.pt2"]) < 1_000_000  # the weights, not the training set
