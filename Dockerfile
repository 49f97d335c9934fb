# The HayMaker orchestrator (and the agent program, `python -m agent`) on the official
# Azure Functions Python base image. The deploy tags every build with its git sha: an
# image reference never moves, so a new image always means a new revision.
FROM mcr.microsoft.com/azure-functions/python:4-python3.11

ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    PYTHONDONTWRITEBYTECODE=1

COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

COPY . /home/site/wwwroot
