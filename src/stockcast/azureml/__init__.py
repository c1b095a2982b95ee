"""Azure ML executor: the pipeline steps as azure-ai-ml components, pipeline, schedule, jobs, endpoint.

The only place `azure.ai.ml` is imported; nothing on the local train/predict path imports this
package. Every object is built and validated offline, so a dry run needs no Azure access.
"""
