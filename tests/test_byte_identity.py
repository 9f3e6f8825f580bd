"""The default pipeline's outputs up to `merge` are byte-identical to those of the code before the
dataset registry (docs/adding-a-dataset.md): the registry moved knowledge, it changed no label.

The expected digests were computed once from the project at commit e4adad1 (before the registry),
by running `dvc repro merge` on the unchanged params.yaml in a temporary copy and hashing its
files with `digests` below, which reads them with h5py and hashlib only (no project code).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.test_pipeline import copy_project, run

pytestmark = pytest.mark.slow

# group/dataset of data/merged.h5 (or labels/<dataset>.csv) -> sha256
EXPECTED = {
    'labels/iemocap.csv': 'd8a6ebfe4437d0bce405914dddb786ed5f4c942f0f7b6bee4b602e3b0c6f841d',
    'labels/meld.csv': 'b707d6513318f3a11d953a3aa0d26582d7b0aaa13522169e3ee8c3066ceacfaa',
    'labels/mosei.csv': 'b9250de93cdb3225f517bb35dde8c4b137c9ca0acd7ec5e270d0ee5d9ebd2d95',
    'labels/mosi.csv': '37586eefda54d56099675cf25687702540bc4030a41935409f7087f36fc1f12e',
    'test/iemocap/audio': '3af2d483d102b92845d8133ff1b4acd63f4226742c3040dc4473ad85a82c8f5b',
    'test/iemocap/audio_length': '800e63221e549e0e061a1a7515eac942fdea36fece8b712e0c960aefec2cf343',
    'test/iemocap/audio_offset': '4204be5cd6097fa35ae9239f3421070eead8f8c5020d007492803b8ceb1ec3a6',
    'test/iemocap/dataset': '4a7219a907d8e8aaccf8ef14dd49a1703ab49f921da4b7d05daec6090487f9e6',
    'test/iemocap/gold_emotion': '08071267f0a538571251186b3d75d5f02643fe0a42d46dbd8e4cb95c340ca893',
    'test/iemocap/gold_score': 'e034408ec10a7ebf32dcd6f2360717e5dba31446a2968159a02e2c66eff8df20',
    'test/iemocap/id': '86213591cee79092193b9f1f27df9cee6041e27663248b03b712673763b90568',
    'test/iemocap/input': '8998edd91add9a8b768486192cf85bb32fecea06da1dee534a9e42091822a040',
    'test/iemocap/polarity': '2b2cb2e3c54dc2b2e8882deb64b524c9ceb551c53d12bebcae8c11fe757d986c',
    'test/iemocap/target': 'ae61a0277706a2d03a3e73e6d7ff82bae444ffecd3bda6eb65a6d41665d904ff',
    'test/iemocap/video': 'c6dd53a6babd97c7233b3e04644f4df647f2c47297cbb92db34cf25aa5506443',
    'test/iemocap/video_length': '32395b7cd5b0ba9589e6b19e7c2163106fa4141bb4c877f8649ef71b3630c21d',
    'test/iemocap/video_offset': 'e3ac471fdd44b561ac5914b79b0561e5b28304fadd68f298e1bb0b23a017eefe',
    'test/meld/audio': 'b5bc144c4f4c410071fa46252090a226c0888333b909da97c56e032fb3607efd',
    'test/meld/audio_length': 'b06c57b649c2fc3db82a5990dffeefdb1b868b2e775df031e932d534aa1b0e36',
    'test/meld/audio_offset': '2ecec300b655417f06ad5fd73ca9934b463c51044227e23e70ba9ff8016b7304',
    'test/meld/dataset': '0f2bb398615217e825d0f33fc875e1ce668d37fc7f42cee0a6718848c90c7de7',
    'test/meld/gold_emotion': '8cf0b616f3bcbef9156ff00a52f7da1a2b27f4db2dbcb14dc102680e137b210c',
    'test/meld/gold_score': 'd1c2e895f3da41eb87ae2e9f346d0b99f4dc085bf4c11e449aea592ca25e1a47',
    'test/meld/id': 'bee959621d0dab06c1b208120e5e51a9b61651baf33283044c9696216bd86481',
    'test/meld/input': 'ea1c77438c30f3d19bdd0556de71f053e957f663dbdb8ec44e53e131efb394e5',
    'test/meld/polarity': 'f2a87243b49e0b3d23db226bdd7099482d64443e6175558ac45dbdd3997250e3',
    'test/meld/target': '9ee042e4d9da8d0b5b46e9390061ee7ed3818f1291e8de79f84430631fafcdcc',
    'test/meld/video': 'ba453ccc87750de49f5e9e76346a32113dad8ae134fff9c006e607f60e6e0358',
    'test/meld/video_length': '97f3ff24f8c6a195b951f29fce7ba163dc2f251db97ed37646abd7137751f331',
    'test/meld/video_offset': 'cbd708bb72e3aae4b7c11df8f3ae160bef7a8c0463d0e70504466df062052f22',
    'test/mosei/audio': 'af3c148cf36fec9efadb722d51b71dcd3a8cf00fe19b924df1aefcf8d88f2e7c',
    'test/mosei/audio_length': '60a8cc752d420b4d6bedbf6fd8f5c3d949e20f080767fa62d6653a7d180073ef',
    'test/mosei/audio_offset': 'ed46b05f500082a243f5ec731c6acc23672b822f14732a8178b440b56b207c1b',
    'test/mosei/dataset': 'caee7ad0c5b8900b37ac8e530b9674e5b4bfa33f172e2768e4d1f886de36a3b3',
    'test/mosei/gold_emotion': 'f63a7d45d6c5eb79cae673e77271a5db693d5b9e1efa527cf9aaabafc7735f4e',
    'test/mosei/gold_score': '7bf6209ff23a908e12718df83b2eabc7833f91f12be7d9c96e2f0748bc216fae',
    'test/mosei/id': '4af864a95249b9592b47da0a27df78919d4ab9ec05ee73d91fb73f5cd962920b',
    'test/mosei/input': '476166f31122ea21ba89e815b3fce4d2dad5f76b45affee045bf9058f175a854',
    'test/mosei/polarity': '9a905ed4b076e17c98ddfec2d9d656eb1741cb637f133db35ee1e6296d509e33',
    'test/mosei/target': 'e96a121116e16581274d7659bd95f78217abbe04104b17cf118736d6f34a7233',
    'test/mosei/video': '0d3a2f1beaa9906f90fb0cde420ba112401508e961dbbf1bc0734bf6dd587737',
    'test/mosei/video_length': 'b6e9c05373c8221cb75bbaf7adff46e55db2c1154d474d2495a042c87ab7ce81',
    'test/mosei/video_offset': '6b162d20e07ca1c1e689bed2e6a78c0d7871dde296b65b22701a2dbc035b392e',
    'test/mosi/audio': '8480e5975d56257e1a9993c08f3c46b155713626805e4fec055acd1c15d22b36',
    'test/mosi/audio_length': 'c00642cb7993107872c62ece9969c349b8b40224075b081af2d680fe290cbbb4',
    'test/mosi/audio_offset': '36c00d1c5f43bed3c354bd16140523eafead9ab0d24e4df366aa05998fdb9feb',
    'test/mosi/dataset': '440ad245e615d91871d783ea713e3d42fa72b7cd72aa3878d66bf52d2f828c5e',
    'test/mosi/gold_emotion': 'a33f82fad2d9b3b037320b93b33f2df200bc9bc87313828645922460fef71f92',
    'test/mosi/gold_score': 'f1fb34bd39a674fa7b1b1aebcb4ba7d29e74b130d023c03db69cb2f5ab204c87',
    'test/mosi/id': '2d64c952bab371658e5769ae1c3b24dbe69db2fafe8a52b342fafe8d957c67d6',
    'test/mosi/input': '31bb33f32760b36313d8987d2228aa928fd8bb1e07e81a05e3751d3d62e64cd8',
    'test/mosi/polarity': '92400b36af0a99295cad3bed46ada5adb24438ce5a6590964a3afc4e05403f41',
    'test/mosi/target': '7ae76a6f90e39b64f55bd39583c41b3b2ee7bc04f717ef8c4bacd06db72bd8a2',
    'test/mosi/video': '1223d7dd5b0e170707fd5528b3679ab31d442d366e20f19e73d58a4ca3e98a56',
    'test/mosi/video_length': '6e3a63b417ed411dec8d1c85a67660146db15604289204b1be7e79535ba6fe52',
    'test/mosi/video_offset': '32acafb70d5f0dc8a30d8fa396b69d8f4d57b39f92d0f221285e1e7beb66690d',
    'train/audio': '2f0644c06e89ade7ff6bba347f43b58e4a4f8f9ef0d62cadf22bb798a994d84a',
    'train/audio_length': 'b23f163e9e7bb617011497a8603a072c7031b6056b0fe606543ad85e44d9acc8',
    'train/audio_offset': '5db789be1604062466b3dc069b935934c1353b86346e6ed0cd6ebacb80e83f8f',
    'train/dataset': 'b6cb746295ebdf388538106f0cf6f29dcb2c37a118aa439c5db6db329ddd971c',
    'train/gold_emotion': '0e06180206983fa3fedb15da9f54b8cc9f45a024ac666763c7261c0f2456046e',
    'train/gold_score': '446492993a0d8fb7e81596931525ec7ff378c01e13706f4e107684e78a21b5ed',
    'train/id': 'ac8122259422d10d77452af328540c1a8e13e175676d666e17b48cf03543c6e1',
    'train/input': '23686bf53da25ebd7567e783304f59d7be2dc6181faf7a1b0dc33b51a7625bdb',
    'train/polarity': '2e7a208e1f5545cb833b7e1c3c2c861833aa7520777889b7ba8cf7f8f968eb10',
    'train/target': 'a966f77afe0217802ebbaf1929e93cc5ab6681a15bba0b2a067135e49bc58375',
    'train/video': 'f1d5745bf02e37a758cf113743651145d8389c5e9e66b2d63909be83817640c0',
    'train/video_length': '134ed33c7a1581b37c20fbf0efacb5a70a60327f52739a3ad29b2e9e18bd8e02',
    'train/video_offset': 'dd62c92b1b8a530a71b6141419c431c0bc1d3b35aca9cf4031f5c4beb56ba962',
    'valid/audio': '37ddd1d8e46916e88e8b8aeb7ca88032fa886d3d033a851bb8551c8961283033',
    'valid/audio_length': '22fc98dfd946fb0936b1830cf407082cedda27abbe03b5451a1b67e5328f11da',
    'valid/audio_offset': '1e44167852108c46fb70ed781f7edc0a4440a947cd5c6c1f0f8a3daea2accebc',
    'valid/dataset': 'd406c8752fdfb817643532d05832a129d8f0bb66f0642a944c2accaf6a25d31a',
    'valid/gold_emotion': 'd63e5ae9854256e49b1137b17faa0670f9c54b0c4abec6e8d2e385491a6306f4',
    'valid/gold_score': '15af455a0bf6c39b84a9d8624c8f6dc79129643c1ab134b091ab5c953d2cb414',
    'valid/id': '34863556adcee8a48320818d5000d4c881284d7e2cae30515e8de3bfa6a77de5',
    'valid/input': '0e9acf203a7fd3d3d1fab7eb7282dd780ba179bf2bab4163bb5abd4a8ed3a922',
    'valid/polarity': '3aa034c16b4b2ba21603d742468b364fb7b8195a989e72aa11fe7a5bc3d4d2a8',
    'valid/target': '917450d06d3fffc7c71af0658bb5aded14892be339fe05dbb672a0fcd614d35c',
    'valid/video': '06ff9024a274ae350fa91d406bcea37b9f611b2a68099ab26e971db523158049',
    'valid/video_length': 'f382f6c7d373253a50c879c2fefc817df6dec4d44b36073fdaaed5ed4fb6fd48',
    'valid/video_offset': '2b88ea1a79b1f2174bea71082fd3b68a6aa031a4bd4c42a4743682422ff9bb92',
}


def digests(root: Path) -> dict[str, str]:
    """sha256 of every HDF5 dataset of data/merged.h5 and of every universal-label CSV."""
    out: dict[str, str] = {}
    with h5py.File(root / "data" / "merged.h5", "r") as f:
        def visit(name: str, node) -> None:
            if isinstance(node, h5py.Dataset):
                values = node[()]
                if values.dtype == object:
                    data = "\n".join(v.decode("utf-8") if isinstance(v, bytes) else v for v in values).encode("utf-8")
                else:
                    data = np.ascontiguousarray(values).tobytes()
                out[name] = hashlib.sha256(data).hexdigest()
        f.visititems(visit)
    for csv in sorted((root / "data" / "labels").glob("*.csv")):
        out[f"labels/{csv.name}"] = hashlib.sha256(csv.read_bytes()).hexdigest()
    return out


def test_default_merged_targets_and_label_tables_are_unchanged(tmp_path):
    project = copy_project(tmp_path / "project")
    run(["git", "init", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "copy"], project)
    run(["dvc", "repro", "merge"], project)
    got = digests(project)
    assert set(got) == set(EXPECTED)
    changed = sorted(k for k in EXPECTED if got[k] != EXPECTED[k])
    assert not changed, f"outputs differ from the pre-registry pipeline: {changed}"
