"""int8 speed of a ResNet-50 class CNN (random weights) and the cpu preset's CNN: batch 32, 2 threads."""
import os, sys, time
import numpy as np, torch, torchvision
from export.int8 import quantize_image_static, measure_speed
from export.onnx import ort_session

def bench(name, fp32, int8, pixels, precise):
    os.environ["SEJE_INT8_PRECISE"] = "1" if precise else "0"
    r = measure_speed(fp32, int8, pixels, repeats=int(os.environ.get("REP", 7)))
    print(f"{name} precise={precise}: {r}", flush=True)

class Wrap(torch.nn.Module):
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, pixels):
        e = self.m(pixels / 255.0)
        return e, e
torch.manual_seed(0)
d = "/tmp/int8bert/m"
if not os.path.exists(f"{d}/r50.onnx"):
    m = Wrap(torchvision.models.resnet50()).eval()
    torch.onnx.export(m, (torch.rand(2, 3, 224, 224) * 255,), f"{d}/r50.onnx", dynamo=False, opset_version=17,
                      input_names=["pixels"], output_names=["embedding", "category_logits"], dynamic_axes={"pixels": {0: "b"}})
rng = np.random.default_rng(0)
cal = rng.uniform(0, 255, (16, 3, 224, 224)).astype(np.float32)
if not os.path.exists(f"{d}/r50.int8.onnx"):
    quantize_image_static(f"{d}/r50.onnx", f"{d}/r50.int8.onnx", cal, measure=False)
for p in (False, True):
    bench("resnet50@224", f"{d}/r50.onnx", f"{d}/r50.int8.onnx", cal, p)
