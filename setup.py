from setuptools import find_packages, setup

# Versions live in requirements.txt (the single source of truth). AllenNLP 2.10.1 and
# allennlp-models 2.10.1 are installed with --no-deps because their published pins (torch<1.13,
# transformers<4.21) cannot be resolved on Python 3.11; see the README.
setup(
    name="hint_allennlp",
    version="0.1.0",
    description="HINT (Hypernetwork INstruction Tuning) as an AllenNLP plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    # benchmark/ (beside the package) runs from a checkout only: not installed.
    packages=find_packages(exclude=["tests", "tests.*", "benchmark", "benchmark.*"]),
    package_data={
        # The paper's variants and backbones, which training_configs/hint.libsonnet imports too.
        "hint_allennlp": ["models/paper_variants.json"],
        # The project's table of T0's datasets (promptsource's templates are fetched, not shipped).
        "hint_allennlp.data.p3": ["resources/*.*"],
    },
    python_requires=">=3.10",
    install_requires=["allennlp==2.10.1", "allennlp-models==2.10.1"],
)
