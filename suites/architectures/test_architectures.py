from torchvision.models import vgg16
from reference_impls.common import count_params

def test_vgg16(claim):
    claim("vgg16_params", count_params(vgg16(weights=None)))
