"""Realistic URL shapes per kind of publisher, for the demo corpus.

The hosts are real publishers of web images (the kind LAION's URLs point to); the
paths follow each site's real URL shape, with made-up ids. Nothing is fetched:
the URLs only give the demo corpus the metadata a LAION-style corpus carries.
"""

from __future__ import annotations

import numpy as np

SOURCES = ("personal", "stock", "commercial", "editorial", "art", "other")


def _hex(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), n))


def _alnum(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), n))


def _num(rng: np.random.Generator, n: int) -> str:
    return str(int(rng.integers(10 ** (n - 1), 10**n)))


def _stock(rng, slug):
    return [
        lambda: f"https://www.shutterstock.com/image-photo/{slug}-260nw-{_num(rng, 10)}.jpg",
        lambda: f"https://media.istockphoto.com/id/{_num(rng, 10)}/photo/{slug}.jpg?s=612x612&w=0&k=20&c={_alnum(rng, 20)}",
        lambda: f"https://media.gettyimages.com/id/{_num(rng, 9)}/photo/{slug}.jpg?s=612x612&w=gi&k=20",
        lambda: f"https://thumbs.dreamstime.com/b/{slug}-{_num(rng, 8)}.jpg",
        lambda: f"https://st2.depositphotos.com/{_num(rng, 7)}/{_num(rng, 5)}/i/450/depositphotos_{_num(rng, 9)}-stock-photo-{slug}.jpg",
        lambda: f"https://as1.ftcdn.net/v2/jpg/0{rng.integers(1, 6)}/{_num(rng, 2)}/{_num(rng, 2)}/{_num(rng, 2)}/1000_F_{_num(rng, 9)}_{_alnum(rng, 32)}.jpg",
        lambda: f"https://c8.alamy.com/comp/{_alnum(rng, 7).upper()}/{slug}-{_alnum(rng, 7).upper()}.jpg",
        lambda: f"https://previews.123rf.com/images/{_alnum(rng, 8).lower()}/{_alnum(rng, 8).lower()}1{_num(rng, 5)}/{_num(rng, 8)}-{slug}.jpg",
    ]


def _personal(rng, slug):
    return [
        lambda: f"https://pbs.twimg.com/media/{_alnum(rng, 15)}.jpg",
        lambda: f"https://i.pinimg.com/736x/{_hex(rng, 2)}/{_hex(rng, 2)}/{_hex(rng, 2)}/{_hex(rng, 32)}.jpg",
        lambda: f"https://scontent-lhr8-1.cdninstagram.com/v/t51.2885-15/{_num(rng, 9)}_{_num(rng, 15)}_n.jpg",
        lambda: f"https://i.redd.it/{_alnum(rng, 13).lower()}.jpg",
        lambda: f"https://live.staticflickr.com/65535/{_num(rng, 11)}_{_hex(rng, 10)}_b.jpg",
        lambda: f"https://64.media.tumblr.com/{_hex(rng, 32)}/tumblr_{_alnum(rng, 18)}_1280.jpg",
        lambda: f"https://scontent.fbcdn.net/v/t1.6435-9/{_num(rng, 9)}_{_num(rng, 15)}_n.jpg",
        lambda: f"https://{rng.integers(1, 5)}.bp.blogspot.com/-{_alnum(rng, 11)}/{_alnum(rng, 11)}/s1600/IMG_{_num(rng, 4)}.JPG",
    ]


def _commercial(rng, slug):
    return [
        lambda: f"https://m.media-amazon.com/images/I/{_num(rng, 2)}{_alnum(rng, 9)}L._AC_SL1500_.jpg",
        lambda: f"https://i.ebayimg.com/images/g/{_alnum(rng, 16)}/s-l1600.jpg",
        lambda: f"https://i.etsystatic.com/{_num(rng, 8)}/r/il/{_hex(rng, 6)}/{_num(rng, 10)}/il_794xN.{_num(rng, 10)}_{_alnum(rng, 4).lower()}.jpg",
        lambda: f"https://cdn.shopify.com/s/files/1/0{_num(rng, 3)}/{_num(rng, 4)}/products/{slug}_1024x1024.jpg?v={_num(rng, 10)}",
        lambda: f"https://i5.walmartimages.com/asr/{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}.jpeg",
        lambda: f"https://target.scene7.com/is/image/Target/GUEST_{_hex(rng, 8)}?wid=800&hei=800",
        lambda: f"https://ae01.alicdn.com/kf/H{_hex(rng, 32)}.jpg",
    ]


def _editorial(rng, slug):
    y, m, d = int(rng.integers(2012, 2022)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    return [
        lambda: f"https://static01.nyt.com/images/{y}/{m:02d}/{d:02d}/world/{slug[:20]}/{slug[:20]}-superJumbo.jpg",
        lambda: f"https://i.guim.co.uk/img/media/{_hex(rng, 40)}/0_0_3000_1800/master/3000.jpg?width=1200&quality=85",
        lambda: f"https://ichef.bbci.co.uk/news/976/cpsprodpb/{_hex(rng, 4).upper()}/production/_{_num(rng, 9)}_{slug[:24]}.jpg",
        lambda: f"https://media.cnn.com/api/v1/images/stellar/prod/{y % 100:02d}{m:02d}{d:02d}-{slug[:24]}.jpg",
        lambda: f"https://media.npr.org/assets/img/{y}/{m:02d}/{d:02d}/{slug[:24]}-{_hex(rng, 8)}_wide.jpg",
        lambda: f"https://cdn.vox-cdn.com/thumbor/{_alnum(rng, 27)}=/0x0:2040x1360/1200x800/cdn.vox-cdn.com/uploads/chorus_asset/file/{_num(rng, 8)}/{slug[:20]}.jpg",
    ]


def _art(rng, slug):
    return [
        lambda: f"https://images-wixmp-ed30a86b8c4ca887773594c2.wixmp.com/f/{_hex(rng, 8)}-{_hex(rng, 4)}/d{_alnum(rng, 6).lower()}-pre.jpg",
        lambda: f"https://cdna.artstation.com/p/assets/images/images/0{_num(rng, 2)}/{_num(rng, 3)}/{_num(rng, 3)}/large/{slug[:20]}.jpg?{_num(rng, 10)}",
        lambda: f"https://mir-s3-cdn-cf.behance.net/project_modules/1400/{_hex(rng, 6)}{_num(rng, 8)}.{_hex(rng, 8)}.jpg",
        lambda: f"https://uploads1.wikiart.org/images/{slug[:24]}.jpg",
    ]


def _other(rng, slug):
    return [
        lambda: f"https://upload.wikimedia.org/wikipedia/commons/{_hex(rng, 1)}/{_hex(rng, 2)}/{slug.title().replace('-', '_')}.jpg",
        lambda: f"https://www.ncbi.nlm.nih.gov/pmc/articles/PMC{_num(rng, 7)}/bin/{_alnum(rng, 8).lower()}_fig{rng.integers(1, 6)}.jpg",
        lambda: f"https://www.researchgate.net/profile/{_alnum(rng, 8)}/publication/{_num(rng, 9)}/figure/fig{rng.integers(1, 6)}/AS:{_num(rng, 15)}@{_num(rng, 13)}/{slug}.png",
    ]


_SHAPES = {"stock": _stock, "personal": _personal, "commercial": _commercial, "editorial": _editorial, "art": _art,
           "other": _other}


def make_url(rng: np.random.Generator, source: str, slug: str) -> str:
    """A URL of a publisher of kind ``source`` for an image described by ``slug``."""
    shapes = _SHAPES[source](rng, slug)
    return shapes[int(rng.integers(len(shapes)))]()
