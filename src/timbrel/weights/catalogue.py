"""The standard weight files: what each is called, where it sits in the cache, where it comes from.

One table serves both sides: `find_weight` looks for the `candidates` of an entry in the cache, and
`timbrel download` fetches its `source` from the Hugging Face Hub into `source.target`, which is
always one of those candidates.

Checksums: the recorded sha256 values of hubert_base.pt, rmvpe.pt and RVC's f0 G/D files (and their
byte sizes) agree across two or more independent public download manifests; those of the G/D files
without f0 come from one public manifest pinned to lj1995/VoiceConversionWebUI@e6d0c1a1 whose every
other value agrees with the rest. Where no value could be found (the RIFT-SVC files) none is recorded
and the download is checked against the sha256 the Hub reports for the file. A wrong recorded value
can only make a download fail, never let a different file in.
"""

from __future__ import annotations

from dataclasses import dataclass

RVC_REPO = "lj1995/VoiceConversionWebUI"
RIFT_MODULES_REPO = "Pur1zumu/RIFT-SVC-modules"
RIFT_PRETRAINED_REPO = "Pur1zumu/RIFT-SVC-pretrained"

MIT_RVC = "MIT (RVC project, lj1995/VoiceConversionWebUI)"
CC_BY_NC_SA = "CC BY-NC-SA 4.0 (non-commercial)"


@dataclass(frozen=True)
class HubFile:
    """One file of a Hub repository, with the checksum and size Timbrel expects when known."""

    path: str
    sha256: str | None = None
    size_bytes: int | None = None

    @property
    def basename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class HubSource:
    """Where a standard weight is downloaded from and where it is placed in the cache.

    ``target`` is relative to the cache folder. A ``folder`` source places each file under
    ``target/`` by its base name; otherwise the single file becomes ``target`` itself.
    """

    repo_id: str
    files: tuple[HubFile, ...]
    target: str
    licence: str
    non_commercial: bool
    folder: bool = False
    revision: str = "main"
    upstream: str = ""

    def __post_init__(self) -> None:
        if not self.folder and len(self.files) != 1:
            raise ValueError(f"{self.target}: a single-file source needs exactly one file")


@dataclass(frozen=True)
class StandardWeight:
    """A file (or folder) the pipeline needs, the names it may have in the cache, and where it comes from."""

    name: str
    candidates: tuple[str, ...]
    how_to_get: str
    source: HubSource | None = None
    description: str = ""


def _rvc_pretrained(version: str, kind: str, rate_khz: int, f0: bool) -> StandardWeight:
    """RVC's pretrained generator (G) or discriminator (D); ``version`` is "v1" or "v2"."""
    folder = "pretrained" if version == "v1" else "pretrained_v2"
    stem = f"{'f0' if f0 else ''}{kind}{rate_khz}k"
    target = f"{folder}/{stem}.pth"
    sha256, size_bytes = _RVC_PRETRAINED_CHECKSUMS.get(target, (None, None))
    role = "generator" if kind == "G" else "discriminator"
    return StandardWeight(
        name=f"rvc-{version}-{stem}",
        candidates=(target,),
        how_to_get=f"`timbrel download rvc-{version}-{stem}`, or pass the path of RVC's assets/{target}",
        source=HubSource(RVC_REPO, (HubFile(target, sha256, size_bytes),), target, MIT_RVC, False),
        description=(
            f"RVC {version} pretrained {role}, {rate_khz} kHz, {'with' if f0 else 'without'} pitch guidance"
        ),
    )


# sha256 and size of RVC's pretrained G/D at lj1995/VoiceConversionWebUI (sizes where a manifest gave them).
_RVC_PRETRAINED_CHECKSUMS: dict[str, tuple[str, int | None]] = {
    "pretrained/D32k.pth": ("2ab20645829460fdad0d3c44254f1ab53c32cae50c22a66c926ae5aa30abda6f", None),
    "pretrained/D40k.pth": ("547f66dbbcd9023b9051ed244d12ab043ba8a4e854b154cc28761ac7c002909b", None),
    "pretrained/D48k.pth": ("8cc013fa60ed9c3f902f5bd99f48c7e3b9352d763d4d3cd6bc241c37b0bfd9ad", None),
    "pretrained/G32k.pth": ("81817645cde7ed2e2d83f23ef883f33dda564924b497e84d792743912eca4c23", None),
    "pretrained/G40k.pth": ("e428573bda1124b0ae0ae843fd8dcded6027d3993444790b3e9b0100938b2113", None),
    "pretrained/G48k.pth": ("3862a67ea6313e8ffefc05cee6bee656ef3e089442e9ecf4a6618d60721f3e95", None),
    "pretrained/f0D32k.pth": (
        "294db3087236e2c75260d6179056791c9231245daf5d0485545d9e54c4057c77",
        109_978_943,
    ),
    "pretrained/f0D40k.pth": (
        "7d4f5a441594b470d67579958b2fd4c6b992852ded28ff9e72eda67abcebe423",
        109_978_943,
    ),
    "pretrained/f0D48k.pth": (
        "1b84c8bf347ad1e539c842e8f2a4c36ecd9e7fb23c16041189e4877e9b07925c",
        109_978_943,
    ),
    "pretrained/f0G32k.pth": ("285f524bf48bb692c76ad7bd0bc654c12bd9e5edeb784dddf7f61a789a608574", 72_795_627),
    "pretrained/f0G40k.pth": ("9115654aeef1995f7dd3c6fc4140bebbef0ca9760bed798105a2380a34299831", 72_909_665),
    "pretrained/f0G48k.pth": ("78bc9cab27e34bcfc194f93029374d871d8b3e663ddedea32a9709e894cc8fe8", 73_008_619),
    "pretrained_v2/D32k.pth": ("d8043378cc6619083d385f5a045de09b83fb3bf8de45c433ca863b71723ac3ca", None),
    "pretrained_v2/D40k.pth": ("471378e894e7191f89a94eda8288c5947b16bbe0b10c3f1f17efdb7a1d998242", None),
    "pretrained_v2/D48k.pth": ("db01094a93c09868a278e03dafe8bb781bfcc1a5ba8df168c948bf9168c84d82", None),
    "pretrained_v2/G32k.pth": ("869b26a47f75168d6126f64ac39e6de5247017a8658cfd68aca600f7323efb9f", None),
    "pretrained_v2/G40k.pth": ("a3843da7fde33db1dab176146c70d6c2df06eafe9457f4e3aa10024e9c6a4b69", None),
    "pretrained_v2/G48k.pth": ("2e2b1581a436d07a76b10b9d38765f64aa02836dc65c7dee1ce4140c11ea158b", None),
    "pretrained_v2/f0D32k.pth": (
        "bd7134e7793674c85474d5145d2d982e3c5d8124fc7bb6c20f710ed65808fa8a",
        142_875_703,
    ),
    "pretrained_v2/f0D40k.pth": (
        "6b6ab091e70801b28e3f41f335f2fc5f3f35c75b39ae2628d419644ec2b0fa09",
        142_875_703,
    ),
    "pretrained_v2/f0D48k.pth": (
        "2269b73c7a4cf34da09aea99274dabf99b2ddb8a42cbfb065fb3c0aa9a2fc748",
        142_875_703,
    ),
    "pretrained_v2/f0G32k.pth": (
        "2332611297b8d88c7436de8f17ef5f07a2119353e962cd93cda5806d59a1133d",
        73_950_049,
    ),
    "pretrained_v2/f0G40k.pth": (
        "3b2c44035e782c4b14ddc0bede9e2f4a724d025cd073f736d4f43708453adfcb",
        73_106_273,
    ),
    "pretrained_v2/f0G48k.pth": (
        "b5d51f589cc3632d4eae36a315b4179397695042edc01d15312e1bddc2b764a4",
        75_465_569,
    ),
}


def _rift_dit(size: str) -> StandardWeight:
    target = f"pretrain-v3_dit-{size}.ckpt"
    return StandardWeight(
        name=f"rift-dit-{size}",
        candidates=(target,),
        how_to_get=f"`timbrel download rift-dit-{size}`, or pass RIFT-SVC's pretrained/{target}",
        source=HubSource(
            RIFT_PRETRAINED_REPO,
            (HubFile(target),),
            target,
            CC_BY_NC_SA + ", RIFT-SVC by Pur1zumu",
            True,
            upstream="https://github.com/Pur1zumu/RIFT-SVC",
        ),
        description=f"RIFT-SVC v3 pretrained DiT ({size}: width-depth) for fine-tuning",
    )


NSF_HIFIGAN_FOLDER = "nsf_hifigan_44.1k_hop512_128bin_2024.02"

_WEIGHTS = (
    StandardWeight(
        "hubert",
        ("hubert_base", "hubert_base.pt"),
        "`timbrel download hubert`, or pass the path of RVC's hubert_base.pt (or assets/hubert_base/)",
        HubSource(
            RVC_REPO,
            (
                HubFile(
                    "hubert_base.pt",
                    "f54b40fd2802423a5643779c4861af1e9ee9c1564dc9d32f54f20b5ffba7db96",
                    189_507_909,
                ),
            ),
            "hubert_base.pt",
            "MIT (fairseq HuBERT base, as shipped by the RVC project)",
            False,
        ),
        "HuBERT base content encoder as RVC ships it (fairseq checkpoint)",
    ),
    StandardWeight(
        "rmvpe",
        ("rmvpe.pt",),
        "`timbrel download rmvpe`, or pass the path of RVC's rmvpe.pt",
        HubSource(
            RVC_REPO,
            (
                HubFile(
                    "rmvpe.pt",
                    "6d62215f4306e3ca278246188607209f09af3dc77ed4232efdd069798c4ec193",
                    181_184_272,
                ),
            ),
            "rmvpe.pt",
            MIT_RVC,
            False,
        ),
        "RMVPE pitch extractor as RVC ships it",
    ),
    StandardWeight(
        "contentvec",
        ("content-vec-best",),
        "`timbrel download contentvec`, or pass RIFT-SVC's pretrained/content-vec-best folder",
        HubSource(
            RIFT_MODULES_REPO,
            (HubFile("content-vec-best/config.json"), HubFile("content-vec-best/pytorch_model.bin")),
            "content-vec-best",
            "MIT (ContentVec; content-vec-best conversion), as shipped by RIFT-SVC",
            False,
            folder=True,
            upstream="https://github.com/auspicious3000/contentvec",
        ),
        "ContentVec content encoder (Transformers folder), as RIFT-SVC uses it",
    ),
    StandardWeight(
        "nsf-hifigan",
        (NSF_HIFIGAN_FOLDER,),
        "`timbrel download nsf-hifigan`, or pass the vocoder folder (config.json + model.ckpt)",
        HubSource(
            RIFT_MODULES_REPO,
            (HubFile(f"{NSF_HIFIGAN_FOLDER}/config.json"), HubFile(f"{NSF_HIFIGAN_FOLDER}/model.ckpt")),
            NSF_HIFIGAN_FOLDER,
            CC_BY_NC_SA + ", NSF-HiFiGAN by openvpi",
            True,
            folder=True,
            upstream="https://github.com/openvpi/vocoders/releases/tag/nsf-hifigan-44.1k-hop512-128bin-2024.02",
        ),
        "NSF-HiFiGAN 44.1 kHz vocoder (hop 512, 128 mel bins), as RIFT-SVC uses it",
    ),
    *(
        _rvc_pretrained(version, kind, rate_khz, f0)
        for version in ("v1", "v2")
        for f0 in (True, False)
        for kind in ("G", "D")
        for rate_khz in (32, 40, 48)
    ),
    *(_rift_dit(size) for size in ("512-8", "768-12", "1024-16")),
)

STANDARD_WEIGHTS: dict[str, StandardWeight] = {weight.name: weight for weight in _WEIGHTS}

# Names `timbrel download` accepts besides the single weights.
GROUPS: dict[str, tuple[str, ...]] = {
    "rvc-v1": tuple(name for name in STANDARD_WEIGHTS if name.startswith("rvc-v1-")),
    "rvc-v2": tuple(name for name in STANDARD_WEIGHTS if name.startswith("rvc-v2-")),
    "rift-dit": tuple(name for name in STANDARD_WEIGHTS if name.startswith("rift-dit-")),
    "rvc": ("hubert", "rmvpe", "rvc-v2-f0G40k", "rvc-v2-f0D40k"),
    "rift": ("contentvec", "nsf-hifigan", "rmvpe", "rift-dit-768-12"),
}
