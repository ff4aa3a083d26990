"""The demo's patients: real sample photos, made-up but valid ID numbers and insurance data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from facepay.identity.id_card import check_digit
from facepay.vision.engine import FaceEngine
from facepay.vision.image import load_image
from facepay.vision.liveness.evaluation import faces_camera
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo
from facepay.vision.types import RGBImage


@dataclass(frozen=True)
class DemoPatient:
    """One patient: ID card data, the chip photo, the face the kiosk camera will see."""

    name: str
    id_number: str
    sex: str
    birth_date: date
    phone: str
    chip_photo: RGBImage
    subject: Subject


def id_number(birth: date, serial: int, *, male: bool) -> str:
    """A checksum-valid 18-character resident ID number (region 110101, Beijing Dongcheng)."""
    seq = serial * 2 + (1 if male else 0)
    first17 = f"110101{birth:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_digit(first17)


# (display name, chip photo file, camera photo file, birth date, male)
CAST = (
    ("Barack O.", "obama.jpg", "obama2.jpg", date(1961, 8, 4), True),
    ("Joe B.", "biden.jpg", "biden.jpg", date(1942, 11, 20), True),
)


def demo_patients(engine: FaceEngine, images_dir: Path) -> list[DemoPatient]:
    """The cast, plus the faces of the group photo t1.jpg that face the camera.

    An ID chip photo is frontal by regulation and a kiosk starts liveness only on a face that
    looks at it, so t1's faces turned 25-56° away are left out, by the same rule as
    `facepay eval liveness` (`faces_camera`)."""
    people: list[DemoPatient] = []
    for serial, (name, chip, camera, birth, male) in enumerate(CAST, start=1):
        subject = subjects_from_photo(engine, load_image(images_dir / camera), name, name)[0]
        people.append(
            DemoPatient(
                name=name,
                id_number=id_number(birth, serial, male=male),
                sex="M" if male else "F",
                birth_date=birth,
                phone=f"1380000{serial:04d}",
                chip_photo=load_image(images_dir / chip),
                subject=subject,
            )
        )
    group = [
        subject
        for subject in subjects_from_photo(engine, load_image(images_dir / "t1.jpg"), "t1", "t1")
        if faces_camera(subject)
    ]
    for index, subject in enumerate(group, start=len(CAST) + 1):
        birth = date(1970 + index, 1 + index % 12, 10 + index)
        people.append(
            DemoPatient(
                name=f"Guest {index}",
                id_number=id_number(birth, index, male=index % 2 == 1),
                sex="M" if index % 2 == 1 else "F",
                birth_date=birth,
                phone=f"1390000{index:04d}",
                chip_photo=subject.image,
                subject=subject,
            )
        )
    return people
