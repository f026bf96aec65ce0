"""Writers of small data sets in their publishers' exact layouts: names, label files, codes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def face_landmarks(x: float, y: float, side: float) -> np.ndarray:
    """68 plausible points for a face whose box is (x, y, side, side), eyes level."""
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([x + side * (0.5 - 0.45 * np.cos(t)), y + side * (0.5 + 0.45 * np.sin(t))], 1)
    rest = np.stack([np.linspace(0.2, 0.8, 51), np.full(51, 0.6)], 1) * side + (x, y)
    points = np.concatenate([jaw, rest]).astype(np.float32)
    points[36:42] = (x + 0.3 * side, y + 0.4 * side)
    points[42:48] = (x + 0.7 * side, y + 0.4 * side)
    return points


def write_ckplus(root: Path, faces: list[np.ndarray]) -> Path:
    """CK+ release: 3 subjects; S005/001 anger (3), S005/002 unlabelled, S010/001 happy (5),
    S011/004 contempt (2). 6 frames per sequence (640x490 would be slow; 160x120 here)."""
    sequences = {("S005", "001"): 1, ("S005", "002"): None, ("S010", "001"): 5, ("S011", "004"): 2}
    for k, ((subject, seq), code) in enumerate(sequences.items()):
        image_dir = root / "cohn-kanade-images" / subject / seq
        landmark_dir = root / "Landmarks" / subject / seq
        image_dir.mkdir(parents=True)
        landmark_dir.mkdir(parents=True)
        for frame in range(1, 7):
            name = f"{subject}_{seq}_{frame:08d}"
            canvas = np.full((120, 160), 90, np.uint8)
            canvas[30:90, 50:110] = cv2.resize(faces[(k + frame) % len(faces)], (60, 60))
            cv2.imwrite(str(image_dir / f"{name}.png"), canvas)
            lines = [f"   {px:.7e}   {py:.7e}" for px, py in face_landmarks(50, 30, 60)]
            (landmark_dir / f"{name}_landmarks.txt").write_text("\n".join(lines) + "\n")
        if code is not None:
            emotion_dir = root / "Emotion" / subject / seq
            emotion_dir.mkdir(parents=True)
            (emotion_dir / f"{subject}_{seq}_00000006_emotion.txt").write_text(f"   {code:.7e}\n")
    return root


def write_bu3dfe(root: Path, faces: list[np.ndarray]) -> Path:
    """Two subjects: neutral + AN and HA at intensities 1-4, with the 3D files around them."""
    for s, (subject, ethnicity) in enumerate((("F0001", "WH"), ("M0002", "AE"))):
        folder = root / subject
        folder.mkdir(parents=True)
        names = [f"{subject}_NE00{ethnicity}"]
        names += [f"{subject}_{e}{i:02d}{ethnicity}" for e in ("AN", "HA") for i in range(1, 5)]
        for k, name in enumerate(names):
            rgb = cv2.cvtColor(cv2.resize(faces[(s + k) % 8], (128, 128)), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(folder / f"{name}_F2D.bmp"), rgb)
            (folder / f"{name}_F3D.wrl").write_text("#VRML V2.0 utf8\n")
    return root


def write_jaffe(root: Path, faces: list[np.ndarray]) -> Path:
    """Five JAFFE images of two subjects, plus the README the release ships."""
    root.mkdir(parents=True)
    names = ["KA.AN1.39", "KA.HA2.45", "KA.NE1.26", "NA.SU1.79", "NA.FE3.86"]
    for k, name in enumerate(names):
        cv2.imwrite(str(root / f"{name}.tiff"), cv2.resize(faces[k], (256, 256)))
    (root / "README").write_text("The Japanese Female Facial Expression (JAFFE) Database\n")
    return root


FER2013_ROWS = [
    (0, "Training"),
    (3, "Training"),
    (6, "Training"),
    (3, "PublicTest"),
    (5, "PrivateTest"),
]


def write_fer2013_csv(root: Path, faces: list[np.ndarray]) -> Path:
    """fer2013.csv with five rows: emotion,pixels,Usage."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    for k, (code, usage) in enumerate(FER2013_ROWS):
        lines.append(f"{code},{' '.join(map(str, faces[k].ravel()))},{usage}")
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    return root


# Votes: neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
FERPLUS_ROWS = [
    ("Training", "fer0000000.png", "4,0,0,1,3,2,0,0,0,0"),  # no majority (4 of 10)
    ("Training", "fer0000001.png", "6,0,0,1,3,0,0,0,0,0"),  # neutral 6/9 (sad's 1 vote dropped)
    ("Training", "fer0000002.png", "0,10,0,0,0,0,0,0,0,0"),  # happy
    ("PublicTest", "", "0,0,0,0,0,0,0,0,0,10"),  # removed by FER+ (not a face)
    ("PrivateTest", "fer0000004.png", "0,0,2,0,0,0,0,0,0,8"),  # NF majority
]


def write_ferplus(root: Path, faces: list[np.ndarray]) -> Path:
    """fer2013new.csv next to the row-aligned fer2013.csv."""
    write_fer2013_csv(root, faces)
    header = (
        "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    )
    lines = [header] + [f"{u},{name},{votes}" for u, name, votes in FERPLUS_ROWS]
    (root / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    return root


def write_rafdb(root: Path, faces: list[np.ndarray]) -> Path:
    """RAF-DB basic: three train and two test images, codes 1-7."""
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    labels = {"train_00001.jpg": 5, "train_00002.jpg": 4, "train_00003.jpg": 7}
    labels |= {"test_0001.jpg": 1, "test_0002.jpg": 6}
    for k, name in enumerate(labels):
        rgb = cv2.cvtColor(cv2.resize(faces[k], (100, 100)), cv2.COLOR_GRAY2BGR)
        cv2.imwrite(str(root / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg")), rgb)
    text = "".join(f"{name} {code}\n" for name, code in labels.items())
    (root / "EmoLabel" / "list_patition_label.txt").write_text(text)
    return root


AFFECTNET_HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,"
    "valence,arousal"
)


def write_affectnet(root: Path, faces: list[np.ndarray]) -> Path:
    """Four training rows (happy, contempt, uncertain, no-face) and one validation row (anger)."""
    image_dir = root / "Manually_Annotated_Images" / "689"
    image_dir.mkdir(parents=True)
    rows = {"training.csv": [1, 7, 9, 10], "validation.csv": [6]}
    k = 0
    for csv_name, codes in rows.items():
        lines = [AFFECTNET_HEADER]
        for code in codes:
            name = f"{k:04d}abc.jpg"
            canvas = np.full((200, 240, 3), 60, np.uint8)
            canvas[40:136, 70:166] = cv2.resize(faces[k], (96, 96))[..., None]
            cv2.imwrite(str(image_dir / name), canvas)
            points = ";".join(f"{v:.2f}" for v in face_landmarks(70, 40, 96).ravel())
            lines.append(f"689/{name},70,40,96,96,{points},{code},0.5,-0.2")
            k += 1
        (root / csv_name).write_text("\n".join(lines) + "\n")
    return root


def write_folder(root: Path, faces: list[np.ndarray]) -> Path:
    """Class-per-folder tree with publisher synonyms (Angry, happiness) and mixed formats."""
    for k, (name, suffix) in enumerate(
        [("Angry", ".png"), ("happiness", ".jpg"), ("neutral", ".bmp")]
    ):
        (root / name).mkdir(parents=True)
        for j in range(2):
            cv2.imwrite(str(root / name / f"img{j}{suffix}"), faces[k + j])
    return root
